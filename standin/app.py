"""The stand-in's state and its Starlette application."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from . import agents_api, auth, control, discovery, health, operations, realtime, threads
from .auth import TokenService
from .db import BASE_REVISION, Database
from .faults import FaultSwitch
from .limits import BodyLimit
from .variants import DEFAULT_VARIANT, VARIANTS, Variant, check_combination

DEFAULT_VERSION = "1.0.0"


@dataclass
class StandinState:
    """Everything a request handler may read: database, tokens, variant, faults, version,
    and the timings tests may shorten."""

    database: Database
    tokens: TokenService
    bypass_key: str
    faults: FaultSwitch = field(default_factory=FaultSwitch)
    variant: Variant = VARIANTS[DEFAULT_VARIANT]
    version: str = DEFAULT_VERSION
    slow_delay_s: float = 3.0
    keepalive_interval_s: float = 30.0
    refusal_close_delay_s: float = 0.1
    agent_slow_completion_s: float = 11.0
    max_sessions: int = 0
    open_sessions: int = 0
    latency_s: float = 0.0  # added to every HTTP answer: a stand-in that feels remote (benchmarks)
    # latency-over-hard-budget / latency-over-soft-budget: one answer in ten of each kind is late
    tail_hard_delay_s: float = 2.5
    tail_soft_delay_s: float = 1.2
    tail_counts: dict[str, int] = field(default_factory=dict)
    live_sessions: set[Any] = field(default_factory=set)    # the open WebSocket sessions
    agent_threads: set[str] = field(default_factory=set)    # threads that have had an agent run
    busy_sessions: int = 8        # slow-under-load: more open sessions than this is "under load"
    busy_frame_delay_s: float = 2.5
    # messages-lost-on-reconnect: what a user's closed sessions stored, deleted when they return
    lost_on_reconnect: dict[str, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tail_delay(self, kind: str) -> float:
        """How long to hold this answer back: every tenth answer of a kind under a latency fault,
        so that the 95th percentile of any ten consecutive samples is late, and nothing else."""
        if "latency-over-hard-budget" in self.faults:
            delay = self.tail_hard_delay_s
        elif "latency-over-soft-budget" in self.faults:
            delay = self.tail_soft_delay_s
        else:
            return 0.0
        self.tail_counts[kind] = self.tail_counts.get(kind, 0) + 1
        return delay if self.tail_counts[kind] % 10 == 0 else 0.0

    def set_faults(self, names: Iterable[str]) -> None:
        """Switch exactly these faults on, bringing the database schema along when needed;
        raises UnknownFaultError or IncompatibleFaultError and then changes nothing."""
        names = list(names)
        check_combination(self.variant.name, names)
        with self._lock:
            switched_on, switched_off = self.faults.replace(names)
            self.database.sessions_broken = False
            self.database.down = "db-down" in self.faults
            if "missing-mcp-tables" in switched_on:
                self.database.migrate(BASE_REVISION)
            elif "missing-mcp-tables" in switched_off:
                self.database.migrate("head")
                self.database.seed()
            self.database.sessions_broken = "db-sessions-broken" in self.faults

    def prepare_database(self) -> None:
        """Apply the migrations the active faults allow, and seed what discovery needs."""
        if "missing-mcp-tables" in self.faults:
            self.database.migrate(BASE_REVISION)
        else:
            self.database.migrate("head")
            self.database.seed()
        self.database.down = "db-down" in self.faults
        self.database.sessions_broken = "db-sessions-broken" in self.faults


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "Not found"}, status_code=404)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "Method not allowed"}, status_code=405)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "Internal server error"}, status_code=500)


def create_app(state: StandinState) -> Starlette:
    app = Starlette(
        routes=[
            Route("/health", health.health),
            Route("/api/health", health.api_health),
            Route("/auth/e2e/test-auth", auth.e2e_test_auth, methods=["POST"]),
            Route("/auth/validate", auth.validate, methods=["POST"]),
            Route("/auth/logout", auth.logout, methods=["POST"]),
            Route("/health/ready", operations.ready),
            Route("/api/discovery/services", operations.services),
            Route("/api/v1/discovery/services", operations.services),
            Route("/api/agents/execute", agents_api.execute, methods=["POST"]),
            Route("/api/agents/{agent}", agents_api.execute_typed, methods=["POST"]),
            Route("/api/mcp/servers", discovery.mcp_servers),
            Route("/api/threads", threads.threads, methods=["GET", "POST"]),
            Route("/api/threads/{thread_id}/messages", threads.thread_messages),
            WebSocketRoute("/ws", realtime.websocket_endpoint),
            WebSocketRoute("/api/v1/websocket", realtime.websocket_endpoint),
            Route("/_standin/state", control.control, methods=["GET", "POST"]),
        ],
        exception_handlers={404: _not_found, 405: _method_not_allowed, 500: _server_error},
    )
    app.state.standin = state
    app.add_middleware(_Latency, state=state)
    app.add_middleware(BodyLimit)
    return app


class _Latency:
    """Delays every HTTP request by the state's latency, as a network to a remote staging would."""

    def __init__(self, app: ASGIApp, state: StandinState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.state.latency_s > 0:
            await asyncio.sleep(self.state.latency_s)
        await self.app(scope, receive, send)
