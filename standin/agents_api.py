"""POST /api/agents/execute and /api/agents/{triage,data,optimization}: one request, one answer.

Shapes from `netra_backend/app/routes/agents_execute.py`: optional auth, body
`{"type", "message", "context"?}`, answer `{"status", "agent", "response"?, "execution_time"?,
"circuit_breaker_state"?, "error"?}`; a failure inside the agent is answered 200 with
`"status": "error"` (the route's last `except`).
"""

from __future__ import annotations

import re
import time

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from .auth import error, read_json_object
from .discovery import list_servers

TYPED_AGENTS = ("triage", "data", "optimization")
_SUM = re.compile(r"what is (-?\d{1,9}) plus (-?\d{1,9})", re.IGNORECASE)


def _answer_to(message: str) -> str:
    """What the stand-in's agent makes of a request: it works out a sum it is asked for, as a
    real agent would, and otherwise says it handled the request."""
    found = _SUM.search(message)
    if found:
        return f"{int(found[1]) + int(found[2])} is the sum you asked for"
    return f"{message[:200]!r} handled"


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
    if "agent-canned-answer" in state.faults:  # agents_execute.py, when the agent fails
        canned = (f"Fallback {kind} agent response: Successfully processed '{message[:100]}' "
                  "using recovery mechanism")
        return JSONResponse({"status": "success", "agent": kind, "response": canned,
                             "execution_time": 0.001, "circuit_breaker_state": "CLOSED"})
    if "agent-mock-answer" in state.faults:  # agents_execute.py, for messages about tests
        return JSONResponse({"status": "success", "agent": kind,
                             "response": f"Mock {kind} agent response for: {message[:100]}",
                             "execution_time": 0.001, "circuit_breaker_state": "CLOSED"})
    return JSONResponse({"status": "success", "agent": kind,
                         "response": f"{kind} agent: {_answer_to(message)}; agent servers: {names}",
                         "execution_time": time.perf_counter() - started,
                         "circuit_breaker_state": "CLOSED"})


async def execute(request: Request) -> JSONResponse:
    return await _answer(request, None)


async def execute_typed(request: Request) -> JSONResponse:
    agent = request.path_params["agent"]
    if agent not in TYPED_AGENTS:
        return error(404, "Not found")
    return await _answer(request, agent)
