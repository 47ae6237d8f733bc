"""Redaction: known secrets in their common encodings, URL credentials and anything shaped like
a credential removed from text; control characters made inert; excerpts capped."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

EXCERPT_CHARS = 2000


REDACTED = "[redacted]"


SECRET_KEYS = ("access_token", "refresh_token", "token", "authorization", "x-e2e-bypass-key",
               "cookie", "set-cookie", "password", "credentials", "secret")


# A credential-named key and its value, whatever the value holds: a quoted value runs to its
# closing quote (escaped quotes and backslashes included), a JSON string inside a JSON string to
# its escaped closing quote; an unquoted value after `:` (a header) runs to a space, comma or
# brace, after `=` (a query or a cookie) also to `&`, `;` or a quote.
_KEY_VALUE = re.compile(r"""
    (?P<key>(?:\\*['"])?(?:{keys})(?:\\*['"])?\s*(?:(?P<colon>:)|=)[ \t]*)
    (?:(?P<dq>")(?:[^"\\\r\n]|\\.)+
      |(?P<sq>')(?:[^'\\\r\n]|\\.)+
      |(?P<escaped>\\")(?:\\\\(?:\\\\|\\"|\\[^"\\]|[^\\"])|\\[^"\\]|[^\\"])+
      |(?P<deeper>\\{{2,}}")\S+
      |(?:(?:Bearer|Basic|Digest)\s+)?
       (?(colon)[^ \t\r\n,}}'"][^ \t\r\n,}}]*|[^\s,}}&;'"]+))
    """.format(keys="|".join(re.escape(k) for k in SECRET_KEYS)), re.IGNORECASE | re.VERBOSE)


_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")


_JWT_SUBPROTOCOL = re.compile(r"jwt\.[\w.-]+")


# URL parts that carry credentials: the password of the userinfo, and query parameters named
# like a credential (?token=, ?jwt=, ?access_token=, ?api_key=, ?password=, ?sig=...).
_URL_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/?#@\s:'\"]*):(?P<pw>[^/?#@\s'\"]+)@",
                           re.IGNORECASE)


_CREDENTIAL_PARAM = (r"[\w.-]*(?:token|jwt|key|password|passwd|pwd|secret|auth|signature|sig"
                     r"|credential)[\w.-]*")


_URL_PARAM = re.compile(r"(?P<head>[?&;]" + _CREDENTIAL_PARAM + r"=)(?P<value>[^&#\s'\"<>]+)",
                        re.IGNORECASE)


# The credential after an authorization scheme, at least 6 characters: it may hold a quote (one
# followed by more of it), a backslash escape or a control character; it ends at a space, a
# comma, a semicolon, a closing bracket or a closing quote.
_SCHEME_VALUE = re.compile(
    r"""\b(?P<scheme>Basic|Bearer|Digest)\s+(?:[^\s"'\\,;)\[\]}]|\\.|["'](?=[^\s"'\\,;)\[\]}])){6,}""")


# Control characters (but newline and tab) and bidirectional overrides: shown as escapes, so
# that a target's bytes can neither drive a terminal nor break XML, Markdown or HTML.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def _hide_value(match: re.Match[str]) -> str:
    opener = next((q for q in match.group("dq", "sq", "escaped", "deeper") if q), "")
    return match.group("key") + opener + REDACTED


def neutralise(text: str) -> str:
    """`text` with control characters and escape sequences made visible and inert."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def redact_url(url: str) -> str:
    """The URL with its userinfo password and credential-like query values replaced."""
    url = _URL_USERINFO.sub(lambda m: f"{m.group('head')}:{REDACTED}@", url)
    return _URL_PARAM.sub(lambda m: m.group("head") + REDACTED, url)


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials a URL carries (userinfo password, credential-like query values)."""
    if not url:
        return ()
    parts = urlsplit(url)
    found = [parts.password or ""]
    found += [value for name, value in parse_qsl(parts.query, keep_blank_values=True)
              if re.fullmatch(_CREDENTIAL_PARAM, name, re.IGNORECASE)]
    found += [m.group("value") for m in _URL_PARAM.finditer(url)]
    return tuple(dict.fromkeys(v for s in found if s for v in (s, unquote(s))))


def _base64_fragments(secret: bytes) -> set[str]:
    """The part of base64 (standard and URL-safe) that depends on `secret` alone, at each of the
    three alignments it can have inside a longer encoded text (`Basic user:secret`, a JWT)."""
    found = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret).decode()
        start = -(-8 * shift // 6)
        end = 8 * (shift + len(secret)) // 6
        for text in (encoded[start:end], encoded[start:end].replace("+", "-").replace("/", "_")):
            if len(text) >= 8:
                found.add(text)
    return found


def _json_forms(secret: str) -> set[str]:
    """The secret inside a JSON string as the usual encoders write it: Python's and JavaScript's
    (`\\"`, `\\\\`, `\\u0001`), with `/` escaped, with `<`, `>`, `&` escaped (Go's), with
    upper-case hex, not ASCII-only, and a JSON string inside a JSON string."""
    plain = json.dumps(secret)[1:-1]
    go = plain.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    forms = {plain, plain.replace("/", "\\/"), go, json.dumps(secret, ensure_ascii=False)[1:-1],
             json.dumps(plain)[1:-1]}
    return forms | {re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group()[2:].upper(), form)
                    for form in forms}


def _percent_forms(secret: str) -> set[str]:
    """The secret percent-encoded: as `quote` and `quote_plus` do, every byte, either case."""
    raw = secret.encode()
    forms = {quote(secret, safe=""), quote(secret), quote_plus(secret),
             "".join(f"%{b:02X}" for b in raw)}
    return forms | {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), form) for form in forms}


def encodings_of(secret: str) -> set[str]:
    """The secret as echoed in the common encodings: itself, made inert (control characters
    escaped), percent-encoded, JSON-escaped, HTML-escaped, base64 and base64url (also inside
    `Basic ...`)."""
    raw = secret.encode()
    found = {secret, neutralise(secret), html.escape(secret), html.escape(secret, quote=False),
             secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
             .replace('"', "&#34;").replace("'", "&#39;"),  # as Jinja2 (markupsafe) escapes
             "".join(f"\\u{ord(c):04x}" for c in secret),
             *_json_forms(secret), *_percent_forms(secret)}
    if len(raw) >= 8:
        found |= _base64_fragments(raw)
    return found


class Redactor:
    """Removes known secrets (in their common encodings), URL credentials and anything shaped
    like a credential from text."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)
        forms = {form for s in self._secrets for form in encodings_of(s)}
        self._forms = tuple(sorted((f for f in forms if len(f) >= 4), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        text = _SCHEME_VALUE.sub(lambda m: f"{m.group('scheme')} {REDACTED}", text)
        for form in self._forms:
            text = text.replace(form, REDACTED)
        text = redact_url(text)
        text = _JWT_SUBPROTOCOL.sub(f"jwt.{REDACTED}", text)
        text = _JWT.sub(REDACTED, text)
        return neutralise(_KEY_VALUE.sub(_hide_value, text))


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of `text`, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"
