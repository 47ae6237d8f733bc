"""Hostile targets on loopback for the hostile-conditions tests: a closed port, a server that
accepts and never answers, an HTTP server answering with a fixed bad body, and a WebSocket
server that misbehaves. Each is a real server on a real socket, stopped by its context manager."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.utils import accept_key


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """A loopback URL on which nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts every connection and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


@contextlib.contextmanager
def http_server(status: int, body: bytes | Callable[[BaseHTTPRequestHandler], bytes],
                content_type: str = "application/json") -> Iterator[str]:
    """Answers every request, whatever its method or path, with this status and body."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            payload = body(self) if callable(body) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


WELCOME = json.dumps({"type": "system_message", "timestamp": 0,
                      "data": {"event": "connection_established", "connection_id": "c",
                               "user_id": "u", "connection_ready": True}})


class WebSocketTarget:
    """A WebSocket server on loopback in its own thread, behaving as `mode` says:
    `no-welcome`, `close-mid-run` (welcome, then 1011 on the first frame) or `flood`."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.open_connections = 0
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._main(),), daemon=True)

    async def _handler(self, ws: ServerConnection) -> None:
        self.open_connections += 1
        try:
            if self.mode != "no-welcome":
                await ws.send(WELCOME)
            if self.mode == "close-mid-run":
                await ws.recv()
                await ws.close(1011, "Internal error")
            elif self.mode == "flood":
                while True:
                    await ws.send('{"type": "agent_thinking", "data": {"status": "thinking"}}')
            else:
                await ws.wait_closed()
        except Exception:  # noqa: BLE001 - the client went away: that is the end of this connection
            return
        finally:
            self.open_connections -= 1

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/ws"
            self._ready.set()
            await self._stop.wait()

    def wait_until_all_closed(self, timeout: float = 5.0) -> bool:
        """True once the server has seen every connection end (the client exits first)."""
        deadline = time.monotonic() + timeout
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.open_connections == 0

    def __enter__(self) -> WebSocketTarget:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@contextlib.contextmanager
def raw_server(serve_one: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A loopback server that hands every accepted socket to `serve_one` in its own thread;
    `serve_one` must return once the stop event is set."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def one(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # OSError: the client went away
            serve_one(conn, stop)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
            except OSError:
                continue
            thread = threading.Thread(target=one, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(5)
        for thread in threads:
            thread.join(5)
        listener.close()


def read_request(conn: socket.socket) -> bytes:
    """The request head (and whatever body came with it), read with a bound."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def drip(where: str, interval: float = 0.5) -> Callable[[socket.socket, threading.Event], None]:
    """A server that answers one byte every `interval` seconds, for ever: in the `headers`,
    in a `body` with a Content-Length, or in `chunked` transfer encoding."""

    def serve_one(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        if where == "headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            endless = b"X-Slow: " + b"a" * 10_000_000
        elif where == "body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000000\r\n\r\n")
            endless = b'{"status": "' + b"a" * 100_000_000
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            endless = b"1\r\na\r\n" * 10_000_000
        for i in range(len(endless)):
            if stop.wait(interval):
                return
            conn.sendall(endless[i:i + 1])

    return serve_one


def gzip_bomb(gibibytes: int = 1) -> bytes:
    """A tiny body that inflates, through two gzip layers, to `gibibytes` GiB of zeros."""
    import gzip
    import zlib

    inner = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    once = b"".join(inner.compress(block) for _ in range(gibibytes * 1024)) + inner.flush()
    return gzip.compress(once, 9)


def bomb_server(body: bytes) -> Callable[[socket.socket, threading.Event], None]:
    """Answers every request 200 with this body, declared as gzip twice."""

    def serve_one(conn: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set() and read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Encoding: gzip, gzip\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    return serve_one


def ws_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """One unmasked WebSocket frame, as a server sends it."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if len(payload) < 126:
        head += bytes([len(payload)])
    elif len(payload) < 65536:
        head += bytes([126]) + len(payload).to_bytes(2, "big")
    else:
        head += bytes([127]) + len(payload).to_bytes(8, "big")
    return head + payload


def _accept_key(request: bytes) -> str:
    key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    return accept_key(key.decode())


def raw_websocket(mode: str, redirect_to: str = "") -> Callable[[socket.socket, threading.Event], None]:
    """A WebSocket server written frame by frame, to break the protocol as `mode` says:
    `ping-flood` (pings for ever, our pongs never read), `fragment-flood` (a message that never
    ends), `oversize` (one 2 MiB frame), `bad-utf8`, `reserved-bits`, `bad-close` (close code
    999), or `redirect` (the handshake answered 302 to `redirect_to`)."""

    def serve_one(conn: socket.socket, stop: threading.Event) -> None:
        request = read_request(conn)
        if mode == "redirect":
            conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {redirect_to}\r\n"
                         "Content-Length: 0\r\n\r\n".encode())
            return
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                     + _accept_key(request).encode() + b"\r\n\r\n")
        conn.sendall(ws_frame(0x1, WELCOME.encode()))
        conn.settimeout(0.5)
        if mode == "ping-flood":
            ping = ws_frame(0x9, b"p" * 125) * 500
            while not stop.is_set():
                conn.sendall(ping)
            return
        if mode == "fragment-flood":
            conn.sendall(ws_frame(0x1, b'{"type": "', fin=False))
            piece = ws_frame(0x0, b"a" * 65536, fin=False)
            while not stop.is_set():
                conn.sendall(piece)
            return
        conn.recv(65536)  # the client's first frame (a ping), then the hostile answer
        hostile = {"oversize": ws_frame(0x1, b"a" * (2 * 2 ** 20)),
                   "bad-utf8": ws_frame(0x1, b'{"type": "pong", "x": "\xff\xfe"}'),
                   "reserved-bits": ws_frame(0x1, b'{"type": "pong"}', rsv=0x40),
                   "bad-close": ws_frame(0x8, (999).to_bytes(2, "big") + b"bye")}[mode]
        conn.sendall(hostile)
        while not stop.is_set():
            try:
                if not conn.recv(65536):
                    return
            except TimeoutError:
                continue

    return serve_one


Answer = bytes | tuple[int, bytes]


class ShapedPlatform:
    """A real platform (the stand-in) behind a loopback proxy that reshapes some answers:
    every request is passed on, and when its `METHOD /path` fully matches a key of `answers`
    and the platform answered it with success (2xx), the body is replaced (and the status,
    when a (status, body) is given); each text frame the platform sends on a live session is
    passed through `frames` first. So one answer takes a plausible but wrong shape while
    everything else, refusals included, stays as the platform answers it."""

    def __init__(self, backend_url: str, ws_url: str, answers: dict[str, Answer] | None = None,
                 frames: Callable[[str], str] | None = None) -> None:
        self.upstream = backend_url.removeprefix("http://")
        self.upstream_ws = ws_url
        self.answers = [(re.compile(pattern), answer) for pattern, answer in (answers or {}).items()]
        self.frames = frames or (lambda text: text)
        self.served: list[str] = []  # the requests answered with a shaped answer
        self.url = self.ws_url = ""
        self._stack = contextlib.ExitStack()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._serve_ws(),), daemon=True)

    def _shaped(self, method: str, path: str) -> Answer | None:
        for pattern, answer in self.answers:
            if pattern.fullmatch(f"{method} {path.split('?')[0]}"):
                self.served.append(f"{method} {path}")
                return answer
        return None

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheader("Content-Type") or "", answer.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                status, kind, payload = platform._forward(self.command, self.path, headers, body)
                shaped = platform._shaped(self.command, self.path) if status < 300 else None
                if shaped is not None:
                    status, payload = shaped if isinstance(shaped, tuple) else (status, shaped)
                    kind = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    async def _relay(self, client: ServerConnection) -> None:
        headers = [(k, v) for k, v in client.request.headers.raw_items()
                   if k.lower() == "authorization"]
        origin = self.upstream_ws.split("/", 3)
        try:
            async with connect(f"{origin[0]}//{origin[2]}{client.request.path}",
                               additional_headers=headers, open_timeout=10) as upstream:
                down = asyncio.ensure_future(self._pass(upstream, client, self.frames))
                up = asyncio.ensure_future(self._pass(client, upstream, lambda text: text))
                await asyncio.wait([down, up], return_when=asyncio.FIRST_COMPLETED)
                for task in (down, up):
                    task.cancel()
                if upstream.close_code is not None:
                    await client.close(upstream.close_code, upstream.close_reason or "")
        except Exception:  # noqa: BLE001 - either side went away: that ends this session
            return

    @staticmethod
    async def _pass(source, sink, shape: Callable[[str], str]) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in source:
                await sink.send(shape(message) if isinstance(message, str) else message)

    async def _serve_ws(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._relay, "127.0.0.1", 0) as server:
            self.ws_url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws"
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ShapedPlatform:
        self._thread.start()
        self._ready.wait(10)
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self._stack.callback(thread.join, 5)
        self._stack.callback(server.server_close)
        self._stack.callback(server.shutdown)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def nested_list(depth: int) -> bytes:
    """`[[[…]]]`, `depth` deep."""
    return b"[" * depth + b"]" * depth


def nested_object(depth: int) -> bytes:
    """`{"a": {"a": …}}`, `depth` deep."""
    return b'{"a": ' * depth + b"1" + b"}" * depth
