"""The stand-in's Starlette application: its routes, over the state in `state.py`."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from . import agents_api, auth, control, discovery, health, operations, realtime, threads
from .limits import BodyLimit
from .state import DEFAULT_VERSION, StandinState

__all__ = ["DEFAULT_VERSION", "StandinState", "create_app"]


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
