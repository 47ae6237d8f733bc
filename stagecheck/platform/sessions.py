"""Live sessions over WebSocket (websockets' asyncio client), driven from behave's
synchronous steps on the run's event loop; every frame is recorded."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    PayloadTooBig,
    ProtocolError,
)
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

from ..client.exchanges import OWN_CLOSE, TARGET_CLOSE, ExchangeLog
from ..client.nesting import NestedTooDeeply, load_json
from ..client.network import named_failure, open_socket_async
from ..client.throttle import throttled, throttles, wait_before_retry
from ..client.tls import client_context
from ..config.timeouts import WS_CLOSE_S
from ..errors import (
    CheckFailed,
    NoAnswer,
    Redirected,
    SessionClosed,
    TargetError,
    TargetTimeout,
)
from ..vocabulary import Channel, Classification
from . import contract

Frame = dict[str, Any]
# Every frame is read and shown to the waiter; the exchange log keeps a sample, so that a
# flooding server (or an agent streaming thousands of tokens) fills neither memory nor report:
# the first frames, and the last KEPT_FOR_WAITS places for frames a wait was for.
MAX_KEPT_FRAMES = 500
KEPT_FOR_WAITS = 50
MAX_MESSAGE_BYTES = 2 ** 20    # a frame or a whole (fragmented) message, received
MAX_QUEUED_FRAMES = 16         # received and not yet read: reading pauses beyond
MAX_UNSENT_BYTES = 2 ** 20     # our answers (pongs) the target does not read: the session ends


class GateConnection(ClientConnection):
    """websockets' connection, ended at once when the target breaks the protocol (no waiting
    for a close handshake it will not do), or does not read what it makes us send (pongs to a
    ping flood would pile up in memory)."""

    overflowed = False
    lost_with: BaseException | None = None  # why the transport ended, when it failed

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_with = exc  # websockets reports a reset in the handshake as a mere EOF
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.protocol.parser_exc is not None:
            self.transport.abort()
        elif not self.overflowed and self.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            self.overflowed = True
            self.transport.abort()


class _Connect(connect):
    """websockets' connect, without following redirects: a redirect is named, not followed."""

    opened: ClientConnection | None = None

    async def open_tcp_connection(self) -> ClientConnection:
        self.opened = await super().open_tcp_connection()
        return self.opened

    def lost_with(self) -> BaseException | None:
        """Why the connection ended during the handshake, when the network ended it."""
        return getattr(self.opened, "lost_with", None)

    def process_redirect(self, exc: Exception) -> Exception | str:
        if isinstance(exc, InvalidStatus) and 300 <= exc.response.status_code < 400:
            return Redirected(exc.response.status_code,
                              exc.response.headers.get("Location", "(no Location header)"))
        return exc


@dataclass
class SessionAttempt:
    """The outcome of opening a session: open, refused at the handshake, or accepted and then
    closed after an auth error (as the platform does since 2025-09-07)."""

    session: LiveSession | None = None
    refused_status: int | None = None     # the handshake was answered with this HTTP status
    close_code: int | None = None         # the target closed the session with this code
    error: Frame | None = None            # the error frame the target sent before closing
    served: list[str] = field(default_factory=list)  # frames that served the session
    answered_after_error: bool = False    # still answered a ping after its error
    waited_s: float = 0.0                 # how long we waited for the close

    @property
    def refused(self) -> bool:
        """Refused: handshake 401/403, or closed 1008/1011 without serving anything first."""
        return (self.refused_status in contract.REFUSAL_STATUSES
                or (self.close_code in contract.REFUSAL_CLOSE_CODES and not self.served))

    def how(self) -> str:
        """How the target answered, in words: the refusal, or what it did instead."""
        if self.refused_status is not None:
            return f"the handshake was answered {self.refused_status}"
        error = (f"it sent {self.error.get('type')} {contract.error_code(self.error)}".rstrip()
                 if self.error else "")
        if self.served:
            return f"it was accepted and served the session ({', '.join(self.served[:3])})"
        if self.close_code is not None:
            return f"{error or 'it sent no error'}, then closed the session with {self.close_code}"
        if self.error is None:
            return f"it was accepted and stayed open, silent, for {self.waited_s:.0f} s"
        if self.answered_after_error:
            return (f"{error}, but kept the session open: it still answered a ping "
                    f"{self.waited_s:.0f} s later")
        return f"{error}, but did not close the session within {self.waited_s:.0f} s"


class LiveSession:
    """An open WebSocket session; all waits are bounded by the given timeouts."""

    def __init__(self, connection: ClientConnection, url: str, log: ExchangeLog,
                 loop: asyncio.AbstractEventLoop, opened_at: float) -> None:
        self._connection = connection
        self._loop = loop
        self.url = log.redact(url)  # shown only: the session is open already
        self.log = log
        self.opened_at = opened_at
        self.count = 0    # every frame received; waiters see each one, the log keeps a sample
        self.unkept = 0   # frames received and not kept as evidence
        self._kept = 0
        self._recent: deque[str] = deque(maxlen=8)  # the types of the last frames, for messages

    @property
    def close_code(self) -> int | None:
        return self._connection.close_code

    def send(self, frame: Frame) -> None:
        self._loop.run_until_complete(self.send_async(frame))

    async def send_async(self, frame: Frame) -> None:
        text = json.dumps(frame)
        started = time.perf_counter()
        try:
            await self._connection.send(text)
        except ConnectionClosed as exc:
            self.log.record(Channel.WS, f"send {frame.get('type')}", self.url, _code(exc),
                            time.perf_counter() - started, text, error="session closed")
            raise SessionClosed(self.log.redact(
                f"the session at {self.url} was closed ({self._why(exc)}) before a "
                f"{frame.get('type')} could be sent")) from None
        self.log.record(Channel.WS, f"send {frame.get('type')}", self.url, None,
                        time.perf_counter() - started, text)

    def receive_until(self, wanted: Callable[[Frame], bool], timeout: float,
                      what: str) -> Frame:
        return self._loop.run_until_complete(self.receive_until_async(wanted, timeout, what))

    async def receive_until_async(self, wanted: Callable[[Frame], bool], timeout: float,
                                  what: str) -> Frame:
        """The first frame for which `wanted` is true; `wanted` sees every frame received
        (whatever the log keeps of them)."""
        deadline = time.perf_counter() + timeout
        while True:
            started = time.perf_counter()
            remaining = deadline - started
            try:
                if remaining <= 0:
                    raise TimeoutError
                raw = await asyncio.wait_for(self._connection.recv(decode=False), remaining)
            except TimeoutError:
                self.log.record(Channel.WS, "receive", self.url, None, time.perf_counter() - started,
                                error=f"no {what} within {round(timeout, 1):g} s")
                raise NoAnswer(self.log.redact(
                    f"no {what} arrived on {self.url} within {round(timeout, 1):g} s "
                    f"(frames seen: {self._seen()})")) from None
            except ConnectionClosed as exc:
                self.log.record(Channel.WS, "receive", self.url, _code(exc),
                                time.perf_counter() - started, error="session closed")
                raise SessionClosed(self.log.redact(
                    f"the session at {self.url} was closed ({self._why(exc)}) while waiting "
                    f"for {what} (frames seen: {self._seen()})")) from None
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # decoded here: websockets would await a close first
                self._connection.transport.abort()
                self.log.record(Channel.WS, "receive", self.url, None,
                                time.perf_counter() - started, error="invalid UTF-8")
                raise SessionClosed(self.log.redact(
                    f"the session at {self.url} was ended by the gate (the target sent invalid "
                    f"UTF-8 in a message) while waiting for {what} (frames seen: "
                    f"{self._seen()})")) from None
            try:
                frame = load_json(text)
            except NestedTooDeeply as exc:
                raise self._too_deep(text, str(exc), what, started) from None
            except json.JSONDecodeError:
                frame = {"type": "(not JSON)", "raw": text[:200]}
            if not isinstance(frame, dict):
                frame = {"type": "(not an object)", "raw": text[:200]}
            self.count += 1
            self._recent.append(str(frame.get("type")))
            found = wanted(frame)
            if self._kept < MAX_KEPT_FRAMES - KEPT_FOR_WAITS or (
                    found and self._kept < MAX_KEPT_FRAMES):
                self._kept += 1
                self.log.record(Channel.WS, f"receive {frame.get('type')}", self.url, None,
                                time.perf_counter() - started, response=text)
            else:
                self.unkept += 1
            if found:
                return frame

    def _too_deep(self, text: str, nested: str, what: str, started: float) -> CheckFailed:
        """A frame nested deeper than the contract ever nests: recorded, never parsed, and
        the product's defect."""
        self.log.record(Channel.WS, "receive", self.url, None, time.perf_counter() - started,
                        response=text, error=f"a frame {nested}")
        shown = text if len(text) <= 200 else f"{text[:200]}… [{len(text)} characters in all]"
        return CheckFailed(self.log.redact(
            f"the session at {self.url} sent a frame {nested}, deeper than the contract ever "
            f"nests, while waiting for {what}: {shown}"),
            f"a live session sends frames {nested}", Classification.PRODUCT)

    def _why(self, exc: ConnectionClosed) -> str:
        if getattr(self._connection, "overflowed", False):
            return (f"the gate ended it: the target sent pings faster than it read our pongs, "
                    f"over {MAX_UNSENT_BYTES // 2 ** 20} MiB unread")
        return _describe_close(exc)

    def _seen(self) -> str:
        more = f"; {self.unkept} more not kept as evidence" if self.unkept else ""
        return (f"{self.count}, last: {', '.join(self._recent)}{more}" if self.count else "none")

    def close(self) -> None:
        self._loop.run_until_complete(self.close_async())

    async def close_async(self) -> None:
        """Close the session; the exchange records the target's close code only when the target
        closed first (our own 1000 is never evidence against it)."""
        by_target = self._connection.close_code
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._connection.close(), 5)
        except (TimeoutError, ConnectionClosed, OSError):
            self._connection.transport.abort()
        if by_target is not None:
            self.log.record(Channel.WS, TARGET_CLOSE, self.url, by_target,
                            time.perf_counter() - started)
        else:
            self.log.record(Channel.WS, OWN_CLOSE, self.url, None, time.perf_counter() - started)


def _code(exc: ConnectionClosed) -> int | None:
    return exc.rcvd.code if exc.rcvd is not None else None


def _describe_close(exc: ConnectionClosed) -> str:
    """How the session ended: the target's close code, or the protocol error that ended it."""
    cause = exc.__cause__
    if isinstance(cause, PayloadTooBig):
        return f"the target sent a message over the {MAX_MESSAGE_BYTES // 2 ** 20} MiB limit"
    if isinstance(cause, UnicodeDecodeError):
        return "the target sent invalid UTF-8 in a text message"
    if isinstance(cause, ProtocolError):
        if "status code" in str(cause) or "close code" in str(cause):
            return f"the target sent an invalid close code: {cause}"
        return f"protocol error: {cause}"
    if exc.rcvd is None:
        return "no close frame"
    reason = f" {exc.rcvd.reason!r}" if exc.rcvd.reason else ""
    return f"code {exc.rcvd.code}{reason}"


async def _handshake(url: str, headers: dict[str, str] | None, timeout: float,
                     verify_tls: bool, close_timeout: float, shown: str) -> ClientConnection:
    """websockets' handshake, on a TCP connection of our own (its name resolved within the
    timeout, its failure named) unless a proxy carries it: wss:// only, TLS end to end."""
    ws_uri = parse_uri(url)
    proxy = get_proxy(ws_uri) if ws_uri.secure else None
    started = time.perf_counter()
    sock = None if proxy else await open_socket_async(ws_uri.host, ws_uri.port, timeout, shown)
    connecting = _Connect(url, additional_headers=headers, ping_interval=None,
                          open_timeout=max(timeout - (time.perf_counter() - started), 0.001),
                          close_timeout=close_timeout, max_size=MAX_MESSAGE_BYTES,
                          max_queue=MAX_QUEUED_FRAMES, proxy=proxy, sock=sock,
                          create_connection=GateConnection,
                          ssl=client_context(verify_tls) if ws_uri.secure else None)
    try:
        return await connecting
    except BaseException as exc:
        if sock is not None:
            sock.close()
        lost = connecting.lost_with()
        if isinstance(exc, InvalidHandshake) and isinstance(lost, OSError):
            raise named_failure(lost, shown) from None
        raise


def _handshake_failure(exc: Exception, shown: str, open_timeout: float,
                       log: ExchangeLog) -> TargetError:
    """A handshake that failed, in one sentence."""
    if isinstance(exc, Redirected):
        return TargetError(log.redact(
            f"the WebSocket handshake at {shown} was redirected ({exc.status}) to "
            f"{exc.location}, which the gate does not follow: set ws_url to where the "
            "platform serves WebSockets"))
    if isinstance(exc, TimeoutError):
        return TargetTimeout(f"no WebSocket handshake from {shown} within {open_timeout:g} s")
    if isinstance(exc, InvalidHandshake) and not isinstance(exc.__cause__, OSError):
        return TargetError(log.redact(f"WebSocket handshake with {shown} failed: {exc}"))
    named = named_failure(exc, shown)
    return type(named)(log.redact(str(named)))


async def open_session_async(url: str, token: str | None, log: ExchangeLog,
                             loop: asyncio.AbstractEventLoop, open_timeout: float,
                             verify_tls: bool = True,
                             extra_headers: dict[str, str] | None = None, *,
                             close_timeout: float = WS_CLOSE_S) -> SessionAttempt:
    """Open a session with the token as a Bearer header (and any extra headers); a refused
    handshake is an outcome. A handshake answered 429 or 503 is tried again as Retry-After
    asks, all within open_timeout, and then raises Throttled: it is never a refusal."""
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}),
               **(extra_headers or {})} or None
    shown = log.redact(url)
    started = time.perf_counter()
    tries = 0
    while True:
        tries += 1
        began = time.perf_counter()
        try:
            connection = await _handshake(url, headers, open_timeout - (began - started),
                                          verify_tls, close_timeout, shown)
        except InvalidStatus as exc:
            answer = exc.response
            log.record(Channel.WS, "connect", url, answer.status_code, time.perf_counter() - began,
                       response=answer.body.decode("utf-8", "replace") if answer.body else "")
            if not throttles(answer.status_code, answer.headers, handshake=True):
                return SessionAttempt(refused_status=answer.status_code)
            wait = wait_before_retry(answer.headers, tries,
                                     open_timeout - (time.perf_counter() - started))
            if wait is None:
                raise throttled(answer.status_code, answer.headers,
                                f"the WebSocket handshake at {shown}", tries) from None
            await asyncio.sleep(wait)
            continue
        except (Redirected, TimeoutError, OSError, InvalidHandshake, TargetError) as exc:
            failure = _handshake_failure(exc, shown, open_timeout, log)
            log.record(Channel.WS, "connect", url, getattr(exc, "status", None),
                       time.perf_counter() - began, error=str(failure))
            raise failure from None
        log.record(Channel.WS, "connect", url, 101, time.perf_counter() - began)
        return SessionAttempt(session=LiveSession(connection, url, log, loop, began))


def open_session(url: str, token: str | None, log: ExchangeLog, loop: asyncio.AbstractEventLoop,
                 open_timeout: float, verify_tls: bool = True) -> SessionAttempt:
    return loop.run_until_complete(open_session_async(url, token, log, loop, open_timeout,
                                                      verify_tls))
