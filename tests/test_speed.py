"""What makes a run fast without changing what it checks: sign-ins at the same time, each
exchange and check still recorded; templates compiled once and kept between runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagecheck.client.exchanges import ExchangeLog
from stagecheck.client.http import HttpClient
from stagecheck.client.redact import Redactor
from stagecheck.config.target import Target
from stagecheck.platform.users import largest_crowd, signed_in_users
from stagecheck.report import render
from standin import Standin


def test_users_signed_in_at_the_same_time_are_each_checked_and_recorded(standin: Standin) -> None:
    log = ExchangeLog(Redactor((standin.bypass_key,)))
    http = HttpClient(log, 10, 10, verify=False)
    url = standin.urls.backend_url
    target = Target("local", url, url, standin.urls.ws_url, bypass_key=standin.bypass_key)
    emails = [f"release-gate-{i}@e2e.test" for i in range(1, 41)]
    try:
        users = signed_in_users(http, target, emails, concurrency=8)
    finally:
        http.close()
    assert [user.email for user in users] == emails
    assert len({user.token for user in users}) == 40
    assert len(log.exchanges) == 40 and {e.status for e in log.exchanges} == {200}
    assert log.checks == 4 * 40  # status, token, user, its tokens: as when signed in one by one


def test_a_wrong_answer_among_many_sign_ins_fails_the_step(standin: Standin) -> None:
    log = ExchangeLog(Redactor())
    http = HttpClient(log, 10, 10, verify=False)
    url = standin.urls.backend_url
    standin.set_faults(["bypass-rejected"])
    try:
        with pytest.raises(AssertionError, match="the sign-in bypass should accept the key"):
            signed_in_users(http, Target("local", url, url, standin.urls.ws_url,
                                         bypass_key=standin.bypass_key), ["a@e2e.test"] * 5)
    finally:
        http.close()
    assert len(log.exchanges) == 5  # every exchange recorded, even after the first failure


def test_the_largest_crowd_is_read_from_the_examples(tmp_path: Path) -> None:
    from behave.parser import parse_feature
    feature = parse_feature("""Feature: F
  Scenario Outline: crowd
    Given <users> signed-in users
    Examples:
      | users |
      | 5     |
      | 700   |
  Scenario: one
    Given a signed-in user
""")
    assert largest_crowd([feature]) == 700


def test_templates_are_compiled_once_and_again_when_they_change(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.md.j2").write_text("one {{ value }}")
    render.environment.cache_clear()
    try:
        assert render.environment(templates).get_template("t.md.j2").render(value=1) == "one 1"
        cached = list((tmp_path / "cache" / "stagecheck" / "templates").iterdir())
        assert len(cached) == 1
        (templates / "t.md.j2").write_text("two {{ value }}")
        render.environment.cache_clear()
        assert render.environment(templates).get_template("t.md.j2").render(value=1) == "two 1"
    finally:
        render.environment.cache_clear()
