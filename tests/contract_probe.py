"""Checks each clause of the platform contract against a running stand-in, over real sockets.

The probe accepts every shape a variant of the platform has had (and nothing else), so the same
clauses hold for every variant. `broken_clauses` answers which clauses fail, so that a test can
say a fault breaks exactly the clauses it names and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from standin import Standin

FAST_S = 1.0  # every clause budget here is well under the 3 s slow-responses delay
REFUSAL_CLOSE_S = 2.0  # an error frame must be followed by a close within this
AGENT_BUDGET_S = 10.0  # the contract's budget for a whole agent run
AGENT_WAIT_S = 12.5  # long enough to see a run that completes late
AGENT_EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                "agent_completed"]
# Frames a client must tolerate while it waits for the one it wants.
BACKGROUND_FRAMES = {"handshake_validation", "ping", "heartbeat"}
REFUSAL_CLOSE_CODES = {1008, 1011}
UP_HEALTH = {"healthy", "ok"}


def sign_in(standin: Standin, email: str = "probe@example.com") -> str:
    response = httpx.post(f"{standin.urls.auth_url}/auth/e2e/test-auth", timeout=5,
                          headers={"X-E2E-Bypass-Key": standin.bypass_key}, json={"email": email})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def is_welcome(frame: dict) -> bool:
    """Either welcome shape: system_message/connection_established, or connection_established."""
    if frame.get("type") == "connection_established":
        return True
    data = frame.get("data")
    return (frame.get("type") == "system_message" and isinstance(data, dict)
            and data.get("event") == "connection_established")


def is_ack(frame: dict) -> bool:
    """Either acknowledgement shape: a generic ack, or a system_message with status acknowledged."""
    if frame.get("type") == "ack":
        return frame.get("status") == "acknowledged"
    data = frame.get("data")
    return (frame.get("type") == "system_message" and isinstance(data, dict)
            and data.get("status") == "acknowledged")


async def recv_until(ws, wanted: Callable[[dict], bool], timeout: float = 5.0,
                     tolerate: Callable[[dict], bool] = lambda f: False) -> dict:
    """The first frame `wanted` accepts, skipping keep-alive, handshake and welcome frames (and any
    `tolerate` accepts); raises AssertionError on any other frame, TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv_json(ws, max(0.0, deadline - time.monotonic()))
        if wanted(frame):
            return frame
        assert frame.get("type") in BACKGROUND_FRAMES or is_welcome(frame) or tolerate(frame), frame


def server_list(body: dict) -> list[dict]:
    """The servers of a discovery answer, in either envelope."""
    servers = body["data"] if "data" in body else body["servers"]
    assert isinstance(servers, list)
    return servers


async def refused(url: str, **kwargs) -> bool:
    """Refused: a 401/403 handshake, or an error frame and then a close 1008/1011 within
    REFUSAL_CLOSE_S, with nothing served in between."""
    try:
        async with websockets.connect(url, open_timeout=3, **kwargs) as ws:
            first = await recv_json(ws, 3)
            if first.get("type") != "error_message":
                return False
            await asyncio.wait_for(ws.recv(), REFUSAL_CLOSE_S)
            return False  # a second frame: the session is being served
    except InvalidStatus as exc:
        return exc.response.status_code in (401, 403)
    except ConnectionClosed as exc:
        return exc.rcvd is not None and exc.rcvd.code in REFUSAL_CLOSE_CODES
    except TimeoutError:
        return False


@dataclass
class AgentRun:
    """What one agent run showed: its agent/tool events with arrival times, and how it ended."""

    events: list[dict] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    failure: str | None = None

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]


class Probe:
    """One check a clause: returns normally when the clause holds, raises when it does not."""

    def __init__(self, standin: Standin) -> None:
        self.s = standin
        self.http = httpx.Client(base_url=standin.urls.backend_url, timeout=FAST_S)
        self.token = sign_in(standin) if "bypass-rejected" not in standin.faults else "x"
        self._agent_run: AgentRun | None = None

    def health(self) -> None:
        response = self.http.get("/health", timeout=5)
        assert response.status_code == 200 and response.json()["status"] in UP_HEALTH

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
        assert asyncio.run(refused(self.s.urls.ws_url))

    def ws_invalid_token_refused(self) -> None:
        forged = self.token[:-4] + ("AAAA" if not self.token.endswith("AAAA") else "BBBB")
        assert asyncio.run(refused(self.s.urls.ws_url, additional_headers=bearer(forged)))

    def _session(self, check: Callable) -> None:
        async def run() -> None:
            async with websockets.connect(self.s.urls.ws_url, open_timeout=3,
                                          additional_headers=bearer(self.token)) as ws:
                await check(ws)
        asyncio.run(run())

    def ws_welcome(self) -> None:
        async def check(ws) -> None:
            await recv_until(ws, is_welcome, FAST_S)
        self._session(check)

    def ws_ping(self) -> None:
        async def check(ws) -> None:
            await ws.send(json.dumps({"type": "ping"}))
            await recv_until(ws, lambda f: f.get("type") == "pong", 4)
        self._session(check)

    def concurrent_sessions(self) -> None:
        async def one() -> None:
            async with websockets.connect(self.s.urls.ws_url, open_timeout=3,
                                          additional_headers=bearer(self.token)) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                await recv_until(ws, lambda f: f.get("type") == "pong", 4)

        async def run() -> None:
            await asyncio.gather(*(one() for _ in range(3)))
        asyncio.run(run())

    def welcome_under_load(self) -> None:
        """Twelve sessions open at once (more than slow-under-load's eight) are each welcomed
        within the fast budget."""
        async def one() -> None:
            async with websockets.connect(self.s.urls.ws_url, open_timeout=3,
                                          additional_headers=bearer(self.token)) as ws:
                await recv_until(ws, is_welcome, FAST_S)

        async def run() -> None:
            await asyncio.gather(*(one() for _ in range(12)))
        asyncio.run(run())

    def _agent(self) -> AgentRun:
        """One agent run, shared by the agent clauses of this probe: events until agent_completed
        or agent_error, or until AGENT_WAIT_S has passed."""
        if self._agent_run is not None:
            return self._agent_run
        run = self._agent_run = AgentRun()

        async def check(ws) -> None:
            started = time.monotonic()
            await ws.send(json.dumps({"type": "start_agent", "payload": {"user_request": "hi"}}))
            while not run.events or run.types[-1] not in ("agent_completed", "agent_error"):
                left = AGENT_WAIT_S - (time.monotonic() - started)
                frame = await recv_until(
                    ws, lambda f: str(f.get("type", "")).startswith(("agent_", "tool_")), left)
                run.events.append(frame)
                run.arrivals.append(time.monotonic() - started)
        try:
            self._session(check)
        except Exception as exc:  # noqa: BLE001 - the clauses judge what was seen until then
            run.failure = repr(exc)
        return run

    def agent_run(self) -> None:
        run = self._agent()
        assert run.types == AGENT_EVENTS, (run.types, run.failure)

    def agent_run_within_budget(self) -> None:
        run = self._agent()
        assert run.types[-1:] == ["agent_completed"], (run.types, run.failure)
        assert run.arrivals[-1] < AGENT_BUDGET_S, run.arrivals

    def agent_one_run_id(self) -> None:
        run = self._agent()
        assert run.events, run.failure
        assert len({event.get("run_id") for event in run.events}) == 1, run.events

    def discovery(self) -> None:
        response = self.http.get("/api/mcp/servers")
        assert response.status_code == 200
        assert [s["name"] for s in server_list(response.json())] == ["platform-registry"]

    def discovery_servers_described(self) -> None:
        response = self.http.get("/api/mcp/servers")
        assert response.status_code == 200
        servers = server_list(response.json())
        assert servers and all(s.get("name") and s.get("status") for s in servers), servers

    def _create_thread(self) -> str:
        created = self.http.post("/api/threads", json={"title": "probe"},
                                 headers=bearer(self.token))
        assert created.status_code in (200, 201), created.text
        return created.json()["id"]

    def _thread_with(self, contents: list[str]) -> str:
        thread_id = self._create_thread()

        async def check(ws) -> None:
            for content in contents:
                await ws.send(json.dumps({"type": "user_message",
                                          "payload": {"content": content, "thread_id": thread_id}}))
                await recv_until(ws, is_ack)
        self._session(check)
        return thread_id

    def owner_reads_own_thread(self) -> None:
        thread_id = self._create_thread()
        listed = self.http.get("/api/threads", headers=bearer(self.token))
        assert listed.status_code == 200 and thread_id in [t["id"] for t in listed.json()]
        messages = self.http.get(f"/api/threads/{thread_id}/messages", headers=bearer(self.token))
        assert messages.status_code == 200 and messages.json() == []

    def message_stored(self) -> None:
        thread_id = self._thread_with(["kept"])
        listed = self.http.get(f"/api/threads/{thread_id}/messages", headers=bearer(self.token))
        assert listed.status_code == 200
        assert [m["content"] for m in listed.json()] == ["kept"]

    def message_order(self) -> None:
        thread_id = self._thread_with(["one", "two", "three"])
        listed = self.http.get(f"/api/threads/{thread_id}/messages", headers=bearer(self.token))
        assert [m["content"] for m in listed.json()] == ["one", "two", "three"]

    def thread_isolation(self) -> None:
        thread_id = self._thread_with(["private"])
        own = self.http.get(f"/api/threads/{thread_id}/messages", headers=bearer(self.token))
        assert own.status_code == 200  # a 404 for the other user proves nothing otherwise
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
