"""What a scenario exchanged with the target: recorded once, redacted, excerpts capped."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..vocabulary import Channel

EXCERPT_CHARS = 2000
REDACTED = "[redacted]"
OWN_CLOSE = "close (by the release gate)"   # our own close: never evidence against the target
TARGET_CLOSE = "close (by the target)"
SECRET_KEYS = ("access_token", "refresh_token", "token", "authorization", "x-e2e-bypass-key",
               "cookie", "set-cookie", "password", "credentials", "secret")
_KEY_VALUE = re.compile(
    r"""(?P<key>['"]?(?:{})['"]?\s*[:=]\s*['"]?)(?P<value>(?:Bearer\s+)?[^'"\s,&}}]+)""".format("|".join(
        re.escape(k) for k in SECRET_KEYS)), re.IGNORECASE)
_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")
_JWT_SUBPROTOCOL = re.compile(r"jwt\.[\w.-]+")


class Redactor:
    """Removes known secrets and anything shaped like a credential from text."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _JWT_SUBPROTOCOL.sub(f"jwt.{REDACTED}", text)
        text = _JWT.sub(REDACTED, text)
        return _KEY_VALUE.sub(lambda m: m.group("key") + REDACTED, text)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of `text`, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


@dataclass(frozen=True)
class Exchange:
    """One request and answer, or one WebSocket frame or handshake, with the target."""

    channel: Channel
    action: str           # GET, POST, connect, send ping, receive pong, close, ...
    url: str
    status: int | None    # HTTP status, handshake status or close code
    elapsed_s: float
    request: str = ""     # redacted, capped excerpt
    response: str = ""    # redacted, capped excerpt
    error: str = ""       # what went wrong at the network level, if anything
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        status = f" → {self.status}" if self.status is not None else ""
        error = f" ({self.error})" if self.error else ""
        return f"{self.action} {self.url}{status} in {self.elapsed_s:.3f} s{error}"


class ExchangeLog:
    """The exchanges and assertion count of the current scenario."""

    def __init__(self, redactor: Redactor) -> None:
        self.redact = redactor
        self.exchanges: list[Exchange] = []
        self.assertions = 0

    def record(self, channel: Channel, action: str, url: str, status: int | None, elapsed_s: float,
               request: str = "", response: str = "", error: str = "") -> Exchange:
        def clean(text: str, limit: int = EXCERPT_CHARS) -> str:
            # Cut before redacting (bodies may be huge), then cut again within the clean part.
            return excerpt(self.redact(text[:2 * limit]), limit) + (
                f" [{len(text) - 2 * limit} more characters]" if len(text) > 2 * limit else "")

        exchange = Exchange(channel, action, self.redact(url), status, round(elapsed_s, 6),
                            clean(request), clean(response), clean(error, 500))
        self.exchanges.append(exchange)
        return exchange

    def reset(self) -> None:
        self.exchanges = []
        self.assertions = 0
