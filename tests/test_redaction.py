"""Redaction covers a secret whole, whatever characters it holds: quotes, backslashes, control
characters and markup, shown raw, JSON-escaped, percent-encoded, HTML-escaped or in a header;
known to the gate (every encoding of it) or only shaped like a credential (the whole value)."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from stagecheck.client.redact import REDACTED, Redactor

# Quote, backslash, a control character, markup and an apostrophe between distinctive parts.
SECRET = 'Zq8"Xk3\\Wm5\x1bVr7<>&\'Yt9'
PARTS = ("Zq8", "Xk3", "Wm5", "Vr7", "Yt9")


def shown(secret: str) -> dict[str, str]:
    """The secret as a response, a header or a log may show it."""
    escaped = json.dumps(secret)[1:-1]
    return {
        "raw": f"the key was {secret} yesterday",
        "json": json.dumps({"x-e2e-bypass-key": secret, "ok": True}),
        "json, not ASCII-only": json.dumps({"echo": secret + "é"}, ensure_ascii=False),
        "json, upper-case hex": json.dumps({"echo": secret}).replace("\\u001b", "\\u001B"),
        "json, Go's": json.dumps({"echo": secret}).replace("<", "\\u003c").replace(
            ">", "\\u003e").replace("&", "\\u0026"),
        "json in a json string": json.dumps({"body": json.dumps({"access_token": secret})}),
        "json, every character": "".join(f"\\u{ord(c):04x}" for c in secret),
        "python repr": repr({"token": secret}),
        "percent": f"/cb?state={quote(secret, safe='')}&next=1",
        "percent, lower case": "q=" + re.sub("%..", lambda m: m.group().lower(),
                                             quote(secret, safe="")),
        "percent, plus": "q=" + quote_plus(secret),
        "percent, every byte": "q=" + "".join(f"%{b:02X}" for b in secret.encode()),
        "html": f"<p>{html.escape(secret)}</p>",
        "html, as Jinja2": "<p>" + secret.replace("&", "&amp;").replace("<", "&lt;").replace(
            ">", "&gt;").replace('"', "&#34;").replace("'", "&#39;") + "</p>",
        "inert": "key " + secret.replace("\x1b", "\\x1b"),
        "header": f"GET /x\nAuthorization: Bearer {secret}\nAccept: */*",
        "header in json": json.dumps({"Authorization": f"Bearer {secret}"}),
        "bypass header": f"X-E2E-Bypass-Key: {secret}\nAccept: */*",
        "basic": "Authorization: Basic " + base64.b64encode(f"gate:{secret}".encode()).decode(),
        "base64": "echo " + base64.b64encode(secret.encode()).decode(),
        "escaped": f"said {escaped} once",
    }


def left_of(text: str) -> list[str]:
    return [part for part in PARTS if part in text]


@pytest.mark.parametrize("where", list(shown(SECRET)))
def test_a_known_secret_is_covered_whole_in_every_encoding(where: str) -> None:
    text = shown(SECRET)[where]
    clean = Redactor((SECRET,))(text)
    assert left_of(clean) == [], clean
    assert REDACTED in clean


SHAPED = {  # a credential the gate was not told about: only its key or its scheme gives it away
    "json": json.dumps({"access_token": SECRET, "ok": True}),
    "json in a json string": json.dumps({"body": json.dumps({"refresh_token": SECRET, "n": 1})}),
    "python repr": repr({"token": SECRET, "ok": True}),
    "header": f"GET /x\nAuthorization: Bearer {SECRET}\nAccept: */*",
    "header in json": json.dumps({"Authorization": f"Bearer {SECRET}", "ok": True}),
    "bypass header": f"X-E2E-Bypass-Key: {SECRET}\nAccept: */*",
    "bearer alone": f"sent Bearer {SECRET} to it",
    "query": f"/x?token={quote(SECRET, safe='')}&ok=1",
    "cookie": f"Cookie: session=1\nSet-Cookie: secret={quote(SECRET, safe='')}; Path=/",
}


@pytest.mark.parametrize("where", list(SHAPED))
def test_a_value_shaped_like_a_credential_is_covered_to_its_end(where: str) -> None:
    text = SHAPED[where]
    clean = Redactor()(text)
    assert left_of(clean) == [], clean
    assert REDACTED in clean


def test_what_follows_a_redacted_value_stays_readable() -> None:
    redact = Redactor()
    assert redact(SHAPED["json"]) == '{"access_token": "[redacted]", "ok": true}'
    assert redact(SHAPED["header"]) == "GET /x\nAuthorization: [redacted]\nAccept: */*"
    assert redact(SHAPED["query"]) == "/x?token=[redacted]&ok=1"
    assert json.loads(json.loads(redact(SHAPED["json in a json string"]))["body"]) == {
        "refresh_token": REDACTED, "n": 1}


@pytest.mark.parametrize("text", [*shown(SECRET).values(), *SHAPED.values()])
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    redact = Redactor((SECRET,))
    once = redact(text)
    assert redact(once) == once
