"""The operator's credentials, checked before anything is sent: each is one line of printable
ASCII (an HTTP header cannot carry anything else, and a stray newline from `$(cat file)` or
`echo` never matches), and a ready-made token is a JWT that has not expired. Every message names
the variable and what is wrong, never the value."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

import jwt

from ..errors import ConfigError
from ..vocabulary import TargetKind

BYPASS_KEY = "E2E_OAUTH_SIMULATION_KEY"
TOKEN = "STAGING_TEST_JWT_TOKEN"
SIGNING_KEY = "STAGING_JWT_SECRET_KEY"
_SPACES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}


def _character(char: str) -> str:
    """A character in words, without printing a secret's content."""
    return _SPACES.get(char, "a control character" if char.isascii() else "whitespace")


def check_credential(name: str, value: str) -> str:
    """`value` when it is one line of printable ASCII without surrounding whitespace; else a
    ConfigError naming the variable and the offending kind of character."""
    if not value:
        return value
    if value[-1].isspace():
        raise ConfigError(f"{name} ends with {_character(value[-1])}: the platform would never "
                          f"match it; set it again without it (a value copied from a file often "
                          f"keeps the file's last newline)")
    if value[0].isspace():
        raise ConfigError(f"{name} begins with {_character(value[0])}: the platform would never "
                          f"match it; set it again without it")
    if not value.isascii():
        raise ConfigError(f"{name} holds a character outside ASCII: an HTTP header cannot carry "
                          f"it; copy the value again as the platform issued it")
    if not value.isprintable():
        raise ConfigError(f"{name} holds a control character (a newline, a tab or another "
                          f"invisible one): an HTTP header cannot carry it; copy the value again "
                          f"as the platform issued it")
    return value


def check_token(token: str, now: float | None = None) -> str:
    """A ready-made token that is a JWT and has not expired, read without its signature (the
    platform's key is not needed for that); else a ConfigError naming STAGING_TEST_JWT_TOKEN."""
    if not token:
        return token
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:  # its message may quote bytes of the token: not repeated
        raise ConfigError(f"{TOKEN} is not a JWT (three base64url parts separated by dots, "
                          f"the middle one a JSON object); get a fresh token from the platform "
                          f"and set it again") from None
    expires = claims.get("exp")
    if expires is None:
        return token
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise ConfigError(f"{TOKEN} has an exp claim that is not a time; get a fresh token "
                          f"from the platform")
    if expires <= (time.time() if now is None else now):
        when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        raise ConfigError(f"{TOKEN} expired at {when}; get a fresh one")
    return token


def read_credentials(environ: Mapping[str, str], target: TargetKind) -> tuple[str, str, str]:
    """The bypass key (the embedded stand-in takes it too), and on a deployed target the
    ready-made token and (on staging) the signing key, from the environment, each checked."""
    bypass_key = check_credential(BYPASS_KEY, environ.get(BYPASS_KEY, ""))
    if target == TargetKind.LOCAL:
        return bypass_key, environ.get(TOKEN, ""), ""
    token = check_token(check_credential(TOKEN, environ.get(TOKEN, "")))
    signing_key = check_credential(SIGNING_KEY, environ.get(SIGNING_KEY, "")) \
        if target == TargetKind.STAGING else ""
    return bypass_key, token, signing_key
