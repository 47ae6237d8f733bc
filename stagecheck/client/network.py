"""The network under every exchange: a host name resolved within the connect timeout
(getaddrinfo ignores socket timeouts), and a failed connection named by what failed: the
name, the TLS handshake, a reset, or a refusal."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from ..errors import (
    ConnectionReset,
    NameNotResolved,
    TargetError,
    TargetTimeout,
    TargetUnreachable,
    TlsFailed,
    tls_refusal,
)

AddressInfo = tuple[Any, ...]   # one getaddrinfo entry: family, type, proto, canonname, sockaddr
Lookup = Callable[..., list[AddressInfo]]
Done = Callable[[list[AddressInfo] | OSError], None]


def is_address(host: str) -> bool:
    """An IP literal: nothing to resolve."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _lookup_in_thread(host: str, port: int, done: Done, lookup: Lookup) -> None:
    """Resolve in a daemon thread of its own: one past the deadline is left behind, never
    waited for (not even at exit), and holds up no other lookup."""
    def work() -> None:
        try:
            result: list[AddressInfo] | OSError = lookup(host, port, 0, socket.SOCK_STREAM)
        except OSError as exc:
            result = exc
        done(result)
    threading.Thread(target=work, name=f"resolve {host}", daemon=True).start()


def _outcome(host: str, result: list[AddressInfo] | OSError | None,
             timeout: float | None) -> list[AddressInfo]:
    if result is None:
        raise NameNotResolved(f"the name {host} does not resolve: no answer from the DNS within "
                              f"{timeout:g} s (connect_timeout); check this machine's DNS")
    if isinstance(result, OSError):
        reason = getattr(result, "strerror", None) or str(result)
        raise NameNotResolved(f"the name {host} does not resolve ({reason}): check the host in "
                              "the target's URLs (base_url, auth_url, ws_url) and this machine's DNS")
    return result


def resolve(host: str, port: int, timeout: float | None, *,
            lookup: Lookup = socket.getaddrinfo) -> list[AddressInfo]:
    """The addresses of `host`, or NameNotResolved once `timeout` has passed."""
    box: list[list[AddressInfo] | OSError] = []
    finished = threading.Event()

    def done(result: list[AddressInfo] | OSError) -> None:
        box.append(result)
        finished.set()
    _lookup_in_thread(host, port, done, lookup)
    finished.wait(timeout)
    return _outcome(host, box[0] if box else None, timeout)


async def resolve_async(host: str, port: int, timeout: float, *,
                        lookup: Lookup = socket.getaddrinfo) -> list[AddressInfo]:
    """`resolve` for the event loop: the loop goes on while the thread looks the name up."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[AddressInfo] | OSError] = loop.create_future()

    def settle(result: list[AddressInfo] | OSError) -> None:
        if not future.done():
            future.set_result(result)

    def done(result: list[AddressInfo] | OSError) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed since: nobody waits
            loop.call_soon_threadsafe(settle, result)
    _lookup_in_thread(host, port, done, lookup)
    try:
        result: list[AddressInfo] | OSError | None = await asyncio.wait_for(future, timeout)
    except TimeoutError:
        result = None
    return _outcome(host, result, timeout)


async def open_socket_async(host: str, port: int, timeout: float, shown: str) -> socket.socket:
    """A TCP connection to the first of the host's addresses that accepts, all within
    `timeout` (the lookup included); a failure is named (`named_failure`)."""
    started = time.monotonic()
    infos = ([(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, 0, "",
               (host.strip("[]"), port))] if is_address(host)
             else await resolve_async(host, port, timeout))
    loop = asyncio.get_running_loop()
    failure: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            left = timeout - (time.monotonic() - started)
            await asyncio.wait_for(loop.sock_connect(sock, address), max(left, 0.0))
        except TimeoutError:
            sock.close()
            raise TargetTimeout(f"no connection to {shown} within {timeout:g} s "
                                "(connect_timeout)") from None
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        return sock
    raise named_failure(failure or OSError("no address"), shown)


def _causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _ssl_reason(exc: ssl.SSLError) -> str:
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(exc))


def named_failure(exc: BaseException, shown: str) -> TargetError:
    """What failed under an exchange with `shown`, in one sentence: the certificate, the TLS
    handshake, a reset, a refused connection, or else the target unreachable."""
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, TargetError):
            return cause
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TlsFailed(tls_refusal(shown, cause.verify_message or _ssl_reason(cause)))
        if isinstance(cause, ssl.SSLError):
            return TlsFailed(
                f"the TLS handshake with {shown} failed ({_ssl_reason(cause)}): the target does not "
                "speak TLS there or shares no protocol with the gate; check the URL's scheme and port")
        if isinstance(cause, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return ConnectionReset(
                f"the connection to {shown} was reset by the target, or by a proxy or load "
                "balancer on the way; check that it serves this address")
        if isinstance(cause, httpx.RemoteProtocolError) and "without sending" in str(cause):
            return ConnectionReset(
                f"the connection to {shown} was closed by the target before it answered, or by "
                "a proxy or load balancer on the way; check that it serves this address")
        if isinstance(cause, ConnectionRefusedError):
            return TargetUnreachable(f"target unreachable: {shown} (connection refused: nothing "
                                     "listens there)")
    return TargetUnreachable(f"target unreachable: {shown} ({causes[-1] or type(causes[-1]).__name__})")
