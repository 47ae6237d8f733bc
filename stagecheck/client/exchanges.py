"""What a scenario exchanged with the target: recorded once, redacted, excerpts capped."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..vocabulary import Channel
from .redact import EXCERPT_CHARS, Redactor, excerpt

OWN_CLOSE = "close (by the release gate)"   # our own close: never evidence against the target
TARGET_CLOSE = "close (by the target)"


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
        # Its fields are plain values: a shallow copy, in field order (asdict deep-copies each
        # one: a third of building 10,000 scenarios' results). A frozen dataclass's __dict__
        # holds exactly its fields, set in their order by __init__.
        return dict(self.__dict__)

    def summary(self) -> str:
        status = f" → {self.status}" if self.status is not None else ""
        error = f" ({self.error})" if self.error else ""
        return f"{self.action} {self.url}{status} in {self.elapsed_s:.3f} s{error}"


class ExchangeLog:
    """The exchanges and assertion count of the current scenario."""

    def __init__(self, redactor: Redactor) -> None:
        self.redact = redactor
        self.exchanges: list[Exchange] = []
        self.checks = 0

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
        self.checks = 0
