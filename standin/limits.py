"""Limits that keep the stand-in up under hostile input: request bodies capped (413 before the
body is read when its length is declared, or as soon as it passes the cap), JSON nesting capped
(422 or an error frame instead of a RecursionError), and a word when bound beyond loopback."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

MAX_BODY_BYTES = 1024 * 1024  # the platform's requests are a few hundred bytes
MAX_JSON_DEPTH = 64

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_STRING = re.compile(rb'"(?:\\.|[^"\\])*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


class NestedTooDeeply(ValueError):
    """JSON nested beyond MAX_JSON_DEPTH."""


def json_depth(raw: bytes | str) -> int:
    """How deeply the JSON text nests arrays and objects (strings ignored)."""
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b'""', data)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def load_json(raw: bytes | str) -> Any:
    """json.loads, refusing nesting beyond MAX_JSON_DEPTH with NestedTooDeeply."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise NestedTooDeeply(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    return json.loads(raw)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413, never read whole."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"Request body larger than {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(send)


def exposure_warning(host: str) -> str:
    """A warning when the stand-in listens beyond loopback; "" when it does not."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return ""
    return (f"warning: the stand-in listens on {host}, reachable from other machines; anyone "
            "who can reach it can sign in with its bypass key (use --host 127.0.0.1 to keep it "
            "local)")
