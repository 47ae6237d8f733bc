"""The service's defences below the application, where uvicorn has none of its own: a request
(its head and its body) must arrive within `request_timeout` seconds of the connection (or of
its first byte on a kept-alive one); at most `max_connections` are held at once, and one beyond
them is answered 503 and closed as soon as it is accepted (so the descriptors never run out
while half-sent requests are held); a handler that runs out of descriptors answers 503; a
message repeated in a burst (accepts failing, malformed requests) is logged once a second.

uvicorn's `limit_concurrency` answers 503 only once a whole head has arrived, and
`timeout_keep_alive` runs only after a response: neither bounds a client that never finishes
its head or its body, hence the protocol below."""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import logging
import re
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import h11
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 500
KEEP_ALIVE_S = 5
MAX_HEAD = 16 * 1024  # bytes of a head still incomplete after a read (h11's default, said here)
FD_RESERVE = 64  # descriptors kept for the runs, their reports, the history and the logs
LOG_EVERY_S = 1.0
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
LOGGERS = ("asyncio", "uvicorn.error")
ARRIVING = (h11.IDLE, h11.SEND_BODY)  # the client's side while its request is on the way

log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class ConnectionLimits:
    request_timeout: float = REQUEST_TIMEOUT_S
    max_connections: int = MAX_CONNECTIONS

    def within_descriptors(self) -> ConnectionLimits:
        """These limits, with max_connections lowered to leave FD_RESERVE descriptors free."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self
        room = max(soft - FD_RESERVE, 1)
        return replace(self, max_connections=min(self.max_connections, room))


def _answer(status: int, reason: str, sentence: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection: a status and one sentence."""
    body = f'{{"error": "{sentence}"}}'.encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with a request timeout and a connection limit (see the module)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if len(self.connections) > self.limits.max_connections:
            log.warning("refused a connection: the service holds its limit of %d",
                        self.limits.max_connections)
            self.transport.write(_answer(503, "Service Unavailable", "the service holds as many "
                                         "connections as it takes; try again shortly"))
            self.transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in ARRIVING:
            if self._timer is None and not self.transport.is_closing():
                self._arm()  # the first bytes of a request on a kept-alive connection
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._timer = self.loop.call_later(self.limits.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        if self.conn.their_state not in ARRIVING or self.transport.is_closing():
            return
        log.warning("closed a connection whose request did not arrive within %g s",
                    self.limits.request_timeout)
        answering = self.conn.their_state is h11.SEND_BODY and self.cycle.response_started
        if not answering:  # (a head not yet whole has no answer under way)
            self.transport.write(_answer(408, "Request Timeout", "the request did not arrive "
                                         f"within {self.limits.request_timeout:g} s"))
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """The protocol class uvicorn is given (`http=`), bound to these limits."""
    return type("GuardedProtocol", (GuardedProtocol,), {"limits": limits})


class OncePerSecond(logging.Filter):
    """Lets a message through at most once a second (by its first line), saying how many like
    it were left out meanwhile: a flood of failing accepts must not fill the disk."""

    def __init__(self, every: float = LOG_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every, self.clock = every, clock
        self.last: dict[str, float] = {}
        self.left_out: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg).split("\n", 1)[0][:200]
        now = self.clock()
        if now - self.last.get(key, -self.every) < self.every:
            self.left_out[key] = self.left_out.get(key, 0) + 1
            return False
        self.last[key] = now
        if len(self.last) > 1000:  # messages are few kinds; bound the table all the same
            self.last = {key: now}
        skipped = self.left_out.pop(key, 0)
        if skipped:
            record.msg = f"{record.msg}\n({skipped} more like this in the last seconds, left out)"
        if record.exc_info and record.exc_info[1] is not None and \
                getattr(record.exc_info[1], "errno", None) in OUT_OF_DESCRIPTORS:
            record.msg = f"{record.msg}\n{record.exc_info[1]}"
            record.exc_info = None  # the traceback says nothing more than the errno
        return True


def bound_logs() -> None:
    """Each of the loggers a flood goes to lets a message through once a second at most."""
    for name in LOGGERS:
        logging.getLogger(name).addFilter(OncePerSecond())


async def out_of_descriptors(_: Request, exc: Exception) -> Response:
    """A handler that could not open a file or a socket for lack of descriptors: 503."""
    if getattr(exc, "errno", None) not in OUT_OF_DESCRIPTORS:
        raise exc
    log.error("a request found no free file descriptor: %s", exc)
    return JSONResponse({"error": "the service has run out of file descriptors; try again "
                                  "shortly"}, status_code=503, headers={"Retry-After": "5"})


def uvicorn_options(limits: ConnectionLimits) -> dict[str, Any]:
    """uvicorn.Config's arguments for these limits."""
    return {"http": guarded_protocol(limits), "timeout_keep_alive": KEEP_ALIVE_S,
            "h11_max_incomplete_event_size": MAX_HEAD}


# Every answer: nothing runs in a browser but the report's own inline style (it has no
# script), nothing is sniffed into another type, nothing is kept by a cache or a proxy.
POLICY = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
          "frame-ancestors 'none'")
HEADERS = {
    "content-security-policy": POLICY,
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def policy_with_scripts(page: str) -> str:
    """POLICY, letting run exactly the inline scripts of this page (by their hashes): the
    catalog's filters, and nothing injected into it."""
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest())
                      .decode() + "'" for script in SCRIPT.findall(page))
    return POLICY + (f"; script-src {hashes}" if hashes else "")


class SecureHeaders:
    """ASGI middleware adding HEADERS to every answer of the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)  # a page may name its own script
            await send(message)

        await self.app(scope, receive, with_headers)
