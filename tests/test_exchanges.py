"""The exchange log redacts secrets and caps excerpts."""

from __future__ import annotations

from stagecheck.client.exchanges import ExchangeLog
from stagecheck.client.redact import EXCERPT_CHARS, Redactor

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def test_known_secrets_and_token_shapes_are_redacted() -> None:
    log = ExchangeLog(Redactor(("bypass-key-123",)))
    exchange = log.record(
        "http", "POST", f"ws://h/ws?token={JWT}", 200, 0.1,
        request='{"X-E2E-Bypass-Key": "bypass-key-123", "Authorization": "Bearer abc.def"}',
        response=f'{{"access_token": "{JWT}", "refresh_token": "r-secret", "ok": true}}')
    text = exchange.url + exchange.request + exchange.response
    for secret in (JWT, "bypass-key-123", "abc.def", "r-secret"):
        assert secret not in text
    assert '"ok": true' in exchange.response


def test_huge_bodies_are_capped_with_a_count_of_what_was_cut() -> None:
    log = ExchangeLog(Redactor())
    exchange = log.record("http", "GET", "http://h/", 200, 0.1, response="x" * 10_000_000)
    assert len(exchange.response) < EXCERPT_CHARS + 200
    assert "more characters" in exchange.response
