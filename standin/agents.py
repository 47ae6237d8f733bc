"""A deterministic scripted agent: the five progress events, and one real tool call."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from .db import Database
from .discovery import list_servers
from .faults import FaultSwitch
from .models import MCPToolExecution

AGENT_NAME = "supervisor_agent"
# The agents a run may ask for by `payload.agent_type`; any other is a run that cannot be carried
# out, and the user is told so with agent_error. (The contract says a failure is reported with
# agent_error; asking for an unknown agent is the stand-in's way to make a run fail on demand.)
AGENT_TYPES = frozenset({"supervisor", "triage", "data", "optimization"})
TOOL_NAME = "list_agent_servers"

log = logging.getLogger("standin.agents")


def _run_tool(database: Database, user_id: str) -> dict[str, Any]:
    """Read the agent server registry and record the execution, as the platform does."""
    started = time.perf_counter()
    servers = list_servers(database)
    result = {"servers": [server["name"] for server in servers]}
    with database.session() as session:
        session.add(MCPToolExecution(
            id=str(uuid.uuid4()), server_name="platform-registry", tool_name=TOOL_NAME,
            arguments={}, result=result, status="success", user_id=user_id,
            execution_time_ms=round((time.perf_counter() - started) * 1000, 2)))
    return result


def _event(kind: str, run_id: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": kind, "run_id": run_id, "agent_name": AGENT_NAME,
            "timestamp": time.time(), "data": data, **extra}


async def run_agent(database: Database, user_id: str, user_request: str,
                    faults: FaultSwitch, slow_completion_s: float = 11.0,
                    agent_type: str | None = None, follow_up: bool = False,
                    thinking_frames: int = 1, run_s: float = 0.0) -> AsyncIterator[dict[str, Any]]:
    """Yield the run's events in the contract's order; agent_error when the run fails.

    `slow_completion_s` is when agent_completed arrives, counted from the start, under the
    agent-slow fault; `follow_up` says the run's thread has had a run before;
    `thinking_frames` is how many agent_thinking events the run streams; `run_s` is how long a
    run takes at least (a slow staging's agents: benchmarks)."""
    started = time.monotonic()
    if "agent-silent-failure" in faults:
        # At cc536e0b5 register_tool raises AttributeError: name
        # (core/tools/unified_tool_dispatcher.py); the error is logged and nothing reaches the user.
        log.error("agent run failed: AttributeError: name (swallowed, no event sent)")
        return
    run_id = str(uuid.uuid4())
    if agent_type is not None and agent_type not in AGENT_TYPES:
        if "agent-error-swallowed" in faults:
            log.error("agent run failed: no agent %r (swallowed, no event sent)", agent_type)
            return
        yield _event("agent_error", run_id, {"status": "error",
                                             "error": f"no agent named {agent_type!r}"})
        return
    tool_run_id = str(uuid.uuid4()) if "agent-mixed-run-ids" in faults else run_id
    yield _event("agent_started", run_id, {"status": "started", "user_request": user_request})
    for _ in range(max(1, thinking_frames)):
        yield _event("agent_thinking", run_id, {"status": "thinking",
                                                "thought": "Looking up the available agent servers"})
    skip_tool_events = "agent-skips-tool-events" in faults
    if not skip_tool_events:
        yield _event("tool_executing", tool_run_id, {"status": "executing"}, tool_name=TOOL_NAME)
    try:
        result = await run_in_threadpool(_run_tool, database, user_id)
    except SQLAlchemyError as exc:
        yield _event("agent_error", run_id, {"status": "error",
                                             "error": f"tool {TOOL_NAME} failed",
                                             "detail": str(exc).splitlines()[0][:200]})
        return
    if not skip_tool_events:
        yield _event("tool_completed", tool_run_id, {"status": "completed", "result": result},
                     tool_name=TOOL_NAME)
    if "agent-never-completes" in faults or (follow_up and "agent-follow-up-stalls" in faults):
        return
    if "agent-slow" in faults:
        await asyncio.sleep(max(0.0, slow_completion_s - (time.monotonic() - started)))
    await asyncio.sleep(max(0.0, run_s - (time.monotonic() - started)))
    yield _event("agent_completed", run_id, {
        "status": "completed",
        "result": f"Found {len(result['servers'])} agent server(s): {', '.join(result['servers'])}",
    })
