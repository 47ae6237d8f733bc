"""POST /api/agents/execute and /api/agents/{triage,data,optimization}: one request, one answer.

Shapes from `netra_backend/app/routes/agents_execute.py`: optional auth, body
`{"type", "message", "context"?}`, answer `{"status", "agent", "response"?, "execution_time"?,
"circuit_breaker_state"?, "error"?}`; a failure inside the agent is answered 200 with
`"status": "error"` (the route's last `except`).
"""

from __future__ import annotations

import time

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from .auth import error, read_json_object
from .discovery import list_servers

TYPED_AGENTS = ("triage", "data", "optimization")


async def _answer(request: Request, agent_type: str | None) -> JSONResponse:
    state = request.app.state.standin
    started = time.perf_counter()
    try:
        body = await read_json_object(request)
    except ValueError as exc:
        return error(422, str(exc))
    kind, message = agent_type or body.get("type"), body.get("message")
    if not isinstance(kind, str) or not kind or not isinstance(message, str):
        return error(422, "type and message are required strings")
    try:
        if "agent-api-error" in state.faults:
            raise RuntimeError("Agent execution failed: tool registry unavailable")
        servers = await run_in_threadpool(list_servers, state.database)
    except (RuntimeError, SQLAlchemyError) as exc:
        return JSONResponse({"status": "error", "agent": kind, "error": str(exc).splitlines()[0],
                             "execution_time": time.perf_counter() - started,
                             "circuit_breaker_state": "UNKNOWN"})
    names = ", ".join(server["name"] for server in servers) or "none"
    return JSONResponse({"status": "success", "agent": kind,
                         "response": f"{kind} agent: {message[:200]!r} handled; agent servers: {names}",
                         "execution_time": time.perf_counter() - started,
                         "circuit_breaker_state": "CLOSED"})


async def execute(request: Request) -> JSONResponse:
    return await _answer(request, None)


async def execute_typed(request: Request) -> JSONResponse:
    agent = request.path_params["agent"]
    if agent not in TYPED_AGENTS:
        return error(404, "Not found")
    return await _answer(request, agent)
