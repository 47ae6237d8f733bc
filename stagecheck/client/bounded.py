"""Bounded HTTP exchanges: a total deadline on every exchange (not only on each read, so a
server that drips one byte at a time cannot hold a run), and a cap on the decoded size of every
body (so a gzip bomb cannot fill memory). Used by the run's client, the probes and the loop."""

from __future__ import annotations

import time
import zlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from ..errors import BodyTooLarge, SlowAnswer, TargetError, TargetTimeout
from .network import is_address, resolve
from .tls import client_context

MAX_BODY_BYTES = 16 * 2 ** 20   # decoded; no answer of the platform comes near it
_READ_CHUNK = 64 * 1024
_ENCODINGS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16,
              "deflate": zlib.MAX_WBITS | 32}
ACCEPT_ENCODING = "gzip, deflate"


@dataclass
class _Budget:
    """The deadline of the exchange in progress, and how many bytes it has received so far."""

    ends: float
    received: int = 0

    def left(self) -> float:
        return self.ends - time.monotonic()


_budget: ContextVar[_Budget | None] = ContextVar("stagecheck_http_budget", default=None)


def _within(timeout: float | None, budget: _Budget | None, error: type[Exception]) -> float | None:
    """The per-operation timeout shortened to what is left of the exchange's deadline."""
    if budget is None:
        return timeout
    left = budget.left()
    if left <= 0:
        raise error("the exchange's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        budget = _budget.get()
        data = self._inner.read(max_bytes, _within(timeout, budget, httpcore.ReadTimeout))
        if budget is not None:
            budget.received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within(timeout, _budget.get(), httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(
            ssl_context, server_hostname, _within(timeout, _budget.get(), httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, with streams that keep the exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None
                    ) -> httpcore.NetworkStream:
        """The first of the host's addresses that accepts; the name is resolved within the
        connect timeout (NameNotResolved past it), not whenever the resolver gives up."""
        timeout = _within(timeout, _budget.get(), httpcore.ConnectTimeout)
        if is_address(host):
            return _DeadlineStream(self._inner.connect_tcp(host, port, timeout, local_address,
                                                           socket_options))
        started = time.monotonic()
        failure: httpcore.ConnectError | None = None
        for address in dict.fromkeys(info[4][0] for info in resolve(host, port, timeout)):
            left = None if timeout is None else timeout - (time.monotonic() - started)
            if left is not None and left <= 0:
                raise httpcore.ConnectTimeout(f"no connection to {host} within {timeout:g} s")
            try:
                return _DeadlineStream(self._inner.connect_tcp(address, port, left,
                                                               local_address, socket_options))
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address for {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(
            path, _within(timeout, _budget.get(), httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_client(verify: bool = True, proxies: bool = True) -> httpx.Client:
    """An httpx client whose every transport keeps the exchange deadlines of `send_bounded`,
    and trusts what live sessions trust (`client_context`: the system store or SSL_CERT_FILE,
    not httpx's certifi bundle). Proxy variables apply to https:// only (TLS end to end):
    http:// always goes direct."""
    tls = client_context(verify)
    client = httpx.Client(verify=tls, follow_redirects=False, trust_env=proxies,
                          mounts={"http://": httpx.HTTPTransport(verify=tls)})
    # httpx offers no public door to httpcore's network backend: set it on every pool.
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            pool._network_backend = _DeadlineBackend(pool._network_backend)
    return client


class _Inflater:
    """Decodes a body's content-encodings layer by layer, never past the cap."""

    def __init__(self, encodings: list[str], cap: int) -> None:
        self.layers = [zlib.decompressobj(_ENCODINGS[e]) for e in reversed(encodings)]
        self.cap = cap
        self.out = bytearray()

    def feed(self, data: bytes) -> bool:
        """Decode `data`; False once the decoded body passed the cap (decoding stops)."""
        return self._push(0, data)

    def _push(self, layer: int, data: bytes) -> bool:
        if layer == len(self.layers):
            self.out += data
            return len(self.out) <= self.cap
        decoder = self.layers[layer]
        while data:
            chunk = decoder.decompress(data, _READ_CHUNK)
            if chunk and not self._push(layer + 1, chunk):
                return False
            if decoder.unconsumed_tail == data and not chunk:
                break
            data = decoder.unconsumed_tail
        return True


def _encodings(response: httpx.Response, shown: str) -> list[str]:
    names = [e.strip().lower() for e in response.headers.get("content-encoding", "").split(",")]
    names = [e for e in names if e and e != "identity"]
    unknown = [e for e in names if e not in _ENCODINGS]
    if unknown:
        raise TargetError(f"{response.request.method} {shown} answered with content-encoding "
                          f"{unknown[0]!r}, which was not asked for ({ACCEPT_ENCODING})")
    return names


def _read_capped(response: httpx.Response, shown: str, cap: int) -> bytes:
    inflater = _Inflater(_encodings(response, shown), cap)
    for raw in response.iter_raw(_READ_CHUNK):
        if not inflater.feed(raw):
            raise BodyTooLarge(f"the answer to {response.request.method} {shown} is larger than "
                               f"{cap // 2 ** 20} MiB once decoded; reading stopped there")
    return bytes(inflater.out)


_DROPPED = {"content-encoding", "content-length", "transfer-encoding"}


def send_bounded(client: httpx.Client, method: str, url: str, *, limit: float,
                 connect_timeout: float, shown: str | None = None, cap: int = MAX_BODY_BYTES,
                 **kwargs: Any) -> httpx.Response:
    """One exchange that ends within `limit` seconds in all, its body read whole (decoded, at
    most `cap` bytes). Raises TargetTimeout, SlowAnswer, BodyTooLarge or httpx errors;
    `shown` is the URL as messages may show it (redacted)."""
    shown = url if shown is None else shown
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **(kwargs.pop("headers", None) or {})}
    budget = _Budget(time.monotonic() + limit)
    token = _budget.set(budget)
    try:
        request = client.build_request(method, url, headers=headers, timeout=httpx.Timeout(
            limit, connect=min(limit, connect_timeout)), **kwargs)
        try:
            response = client.send(request, stream=True)
            try:
                body = _read_capped(response, shown, cap)
            finally:
                response.close()
        except httpx.TimeoutException:
            if budget.left() > 0.05 or budget.received == 0:
                raise TargetTimeout(f"{method} {shown} did not answer within {limit:g} s") from None
            raise SlowAnswer(f"{method} {shown}: no complete answer within {limit:g} s "
                             "(the server kept sending slowly)") from None
    finally:
        _budget.reset(token)
    answer = httpx.Response(response.status_code, request=request, content=body,
                            headers=[(k, v) for k, v in response.headers.multi_items()
                                     if k.lower() not in _DROPPED])
    answer.elapsed = response.elapsed
    return answer


def get_bounded(url: str, timeout: float, verify: bool = True, proxies: bool = True,
                shown: str | None = None) -> httpx.Response:
    """One bounded GET with a client of its own (the probes, the loop's health polling)."""
    with bounded_client(verify, proxies) as client:
        return send_bounded(client, "GET", url, limit=timeout, connect_timeout=timeout,
                            shown=shown)
