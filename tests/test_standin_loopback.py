"""The stand-in answers on loopback without a delayed-ACK stall: accepted sockets have
TCP_NODELAY, and a request completes in well under 5 ms."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time

import httpx

from standin import start_standin
from standin.server import _bind


def test_accepted_connections_have_tcp_nodelay() -> None:
    async def accept_one() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=_bind("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        try:
            return await asyncio.wait_for(accepted, 5)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(accept_one()) != 0


def test_a_loopback_request_completes_in_under_5_ms() -> None:
    with start_standin() as standin, httpx.Client(base_url=standin.urls.backend_url,
                                                  timeout=5) as client:
        client.get("/health").raise_for_status()  # connect and warm up
        times = []
        for _ in range(20):
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.005, [f"{t * 1000:.1f} ms" for t in times]
