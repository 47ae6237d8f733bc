"""Checks each clause of the platform contract against a running stand-in, over real sockets.

`broken_clauses` answers which clauses fail, so that a test can say a fault breaks exactly
the clauses it names and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from standin import Standin

FAST_S = 1.0  # every clause budget here is well under the 2.5 s slow-responses delay
AGENT_EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                "agent_completed"]


def sign_in(standin: Standin, email: str = "probe@example.com") -> str:
    response = httpx.post(f"{standin.urls.auth_url}/auth/e2e/test-auth", timeout=5,
                          headers={"X-E2E-Bypass-Key": standin.bypass_key}, json={"email": email})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _refused(url: str, **kwargs) -> bool:
    try:
        async with websockets.connect(url, open_timeout=3, **kwargs) as ws:
            await asyncio.wait_for(ws.recv(), 3)
    except InvalidStatus as exc:
        return exc.response.status_code == 403
    except ConnectionClosed as exc:
        return exc.rcvd is not None and exc.rcvd.code == 1008
    return False


class Probe:
    """One check a clause: returns normally when the clause holds, raises when it does not."""

    def __init__(self, standin: Standin) -> None:
        self.s = standin
        self.http = httpx.Client(base_url=standin.urls.backend_url, timeout=FAST_S)
        self.token = sign_in(standin) if "bypass-rejected" not in standin.faults else "x"

    def health(self) -> None:
        response = self.http.get("/health", timeout=5)
        assert response.status_code == 200 and response.json()["status"] == "healthy"

    def health_latency(self) -> None:
        started = time.perf_counter()
        try:
            self.http.get("/health", timeout=FAST_S)
        except httpx.TimeoutException:
            raise AssertionError("health did not answer in time") from None
        assert time.perf_counter() - started < FAST_S

    def api_health(self) -> None:
        response = self.http.get("/api/health", timeout=5)
        assert response.status_code == 200
        assert response.json()["checks"]["postgresql"]["connected"] is True

    def sign_in(self) -> None:
        sign_in(self.s)

    def sign_in_wrong_key_refused(self) -> None:
        response = httpx.post(f"{self.s.urls.auth_url}/auth/e2e/test-auth", timeout=5,
                              headers={"X-E2E-Bypass-Key": "wrong"})
        assert response.status_code == 401

    def ws_no_token_refused(self) -> None:
        assert asyncio.run(_refused(self.s.urls.ws_url))

    def ws_invalid_token_refused(self) -> None:
        forged = self.token[:-4] + ("AAAA" if not self.token.endswith("AAAA") else "BBBB")
        assert asyncio.run(_refused(self.s.urls.ws_url,
                                    additional_headers=bearer(forged)))

    def _session(self, check: Callable) -> None:
        async def run() -> None:
            async with websockets.connect(self.s.urls.ws_url, open_timeout=3,
                                          additional_headers=bearer(self.token)) as ws:
                await check(ws)
        asyncio.run(run())

    def ws_welcome(self) -> None:
        async def check(ws) -> None:
            started = time.perf_counter()
            frame = await _recv_json(ws)
            assert frame["data"]["event"] == "connection_established"
            assert time.perf_counter() - started < FAST_S
        self._session(check)

    def ws_ping(self) -> None:
        async def check(ws) -> None:
            await ws.send(json.dumps({"type": "ping"}))
            while (await _recv_json(ws, 4))["type"] != "pong":
                pass
        self._session(check)

    def concurrent_sessions(self) -> None:
        async def one() -> None:
            async with websockets.connect(self.s.urls.ws_url, open_timeout=3,
                                          additional_headers=bearer(self.token)) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                while (await _recv_json(ws, 4))["type"] != "pong":
                    pass

        async def run() -> None:
            await asyncio.gather(*(one() for _ in range(3)))
        asyncio.run(run())

    def agent_run(self) -> None:
        async def check(ws) -> None:
            await ws.send(json.dumps({"type": "start_agent", "payload": {"user_request": "hi"}}))
            seen: list[dict] = []
            while not seen or seen[-1]["type"] not in ("agent_completed", "agent_error"):
                frame = await _recv_json(ws, 4)
                if frame["type"].startswith(("agent_", "tool_")):
                    seen.append(frame)
            assert [f["type"] for f in seen] == AGENT_EVENTS
            assert len({f["run_id"] for f in seen}) == 1
        self._session(check)

    def discovery(self) -> None:
        response = self.http.get("/api/mcp/servers")
        assert response.status_code == 200
        assert [s["name"] for s in response.json()["data"]] == ["platform-registry"]

    def _thread_with(self, contents: list[str]) -> str:
        created = self.http.post("/api/threads", json={"title": "probe"},
                                 headers=bearer(self.token))
        assert created.status_code == 201
        thread_id = created.json()["id"]

        async def check(ws) -> None:
            for content in contents:
                await ws.send(json.dumps({"type": "user_message",
                                          "payload": {"content": content, "thread_id": thread_id}}))
                while (frame := await _recv_json(ws))["type"] not in ("ack", "error_message"):
                    pass
                assert frame["type"] == "ack"
        self._session(check)
        return thread_id

    def message_order(self) -> None:
        thread_id = self._thread_with(["one", "two", "three"])
        listed = self.http.get(f"/api/threads/{thread_id}/messages", headers=bearer(self.token))
        assert [m["content"] for m in listed.json()] == ["one", "two", "three"]

    def thread_isolation(self) -> None:
        thread_id = self._thread_with(["private"])
        other = sign_in(self.s, "other@example.com")
        listed = self.http.get(f"/api/threads/{thread_id}/messages", headers=bearer(other))
        assert listed.status_code == 404 and "private" not in listed.text


CLAUSES = [name for name in vars(Probe) if not name.startswith("_")]


def broken_clauses(standin: Standin) -> set[str]:
    """The names of the contract clauses the stand-in breaks right now."""
    probe = Probe(standin)
    broken = set()
    for clause in CLAUSES:
        try:
            getattr(probe, clause)()
        except Exception:  # noqa: BLE001 - any failure of any kind means the clause is broken
            broken.add(clause)
    probe.http.close()
    return broken
