"""The service's defences in isolation (service/guard.py): the log that a flood cannot fill,
descriptors run out answered 503, and the connection limit kept below the descriptor limit.
The same defences on a real socket are in test_service.py (slow clients, malformed heads)."""

from __future__ import annotations

import asyncio
import errno
import logging
import resource

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from stagecheck.service.guard import (
    FD_RESERVE,
    HEADERS,
    ConnectionLimits,
    OncePerSecond,
    SecureHeaders,
    out_of_descriptors,
)


def _record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc else None
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, info)


def test_a_message_repeated_in_a_burst_is_logged_once_a_second_with_the_count_left_out() -> None:
    now = [100.0]
    gate = OncePerSecond(clock=lambda: now[0])
    accept = "socket.accept() out of system resource\nsocket: <fd=3>"
    full = OSError(errno.EMFILE, "Too many open files")
    passed = [gate.filter(_record(accept, full)) for _ in range(5000)]
    assert passed.count(True) == 1 and passed[0]
    assert gate.filter(_record("another message"))  # counted apart
    now[0] += 1.0
    record = _record(accept, full)
    assert gate.filter(record)
    assert record.getMessage() == (f"{accept}\n(4999 more like this in the last seconds, left "
                                   "out)\n[Errno 24] Too many open files")
    assert record.exc_info is None  # no traceback: the errno says it all


def _get(error: OSError) -> httpx.Response:
    """GET / from an application whose handler raises `error`, with the service's handler."""
    async def failing(_: Request) -> None:
        raise error

    app = Starlette(routes=[Route("/", failing)], exception_handlers={OSError: out_of_descriptors})

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=SecureHeaders(app), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get("/")

    return asyncio.run(get())


def test_a_request_that_finds_no_free_descriptor_is_503_in_one_sentence() -> None:
    answer = _get(OSError(errno.EMFILE, "Too many open files"))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json() == {"error": "the service has run out of file descriptors; try again "
                                      "shortly"}
    assert {name: answer.headers[name] for name in HEADERS} == HEADERS
    other = _get(OSError(errno.EACCES, "Permission denied"))
    assert other.status_code == 500 and "Traceback" not in other.text  # not ours to call 503


def test_the_connection_limit_leaves_descriptors_free() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = ConnectionLimits(max_connections=10 ** 6).within_descriptors()
    assert limits.max_connections == max(soft - FD_RESERVE, 1)
    assert ConnectionLimits(max_connections=3).within_descriptors().max_connections == 3
