"""GET /health (the process) and GET /api/health (which really queries the database)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from .variants import HealthBody

if TYPE_CHECKING:
    from .state import StandinState

SERVICE = "netra-ai-platform"


STOPPING = {"status": "unhealthy", "message": "the stand-in is stopping"}


async def _misbehave(request: Request) -> JSONResponse | None:
    """Latency faults shared by both health endpoints; under hang, no answer while the server
    runs, and once it stops a 503 (never a healthy answer) rather than a cancelled handler."""
    state = request.app.state.standin
    if "hang" in state.faults:
        await state.stopping.wait()
        return JSONResponse(STOPPING, status_code=503)
    if "slow-responses" in state.faults:
        await asyncio.sleep(state.slow_delay_s)
    if request.url.path == "/health":
        await asyncio.sleep(state.tail_delay("health"))
    return None


async def health(request: Request) -> JSONResponse:
    state = request.app.state.standin
    if (stopping := await _misbehave(request)) is not None:
        return stopping
    if "health-down" in state.faults:
        return JSONResponse({"status": "unhealthy", "message": "Service unavailable"},
                            status_code=503)
    if state.variant.health_body is HealthBody.OK_ONLY:
        return JSONResponse({"status": "ok"})
    body = {"status": "healthy", "service": SERVICE, "version": state.version,
            "timestamp": time.time()}
    if "version-unreported" in state.faults:
        del body["version"]
    return JSONResponse(body)


def _probe_database(state: StandinState) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with state.database.session() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return {"status": "unhealthy", "connected": False, "response_time_ms": None,
                "error": reason[:200]}
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return {"status": "healthy", "connected": True, "response_time_ms": elapsed_ms, "error": None,
            "dialect": state.database.url.get_backend_name()}


async def api_health(request: Request) -> JSONResponse:
    state = request.app.state.standin
    if (stopping := await _misbehave(request)) is not None:
        return stopping
    try:
        # The detailed health root depends on get_current_user_optional, which opens a session
        # from the same factory as every other route (netra_backend/app/routes/health_check.py).
        state.database.check_session_factory()
    except SQLAlchemyError:
        return JSONResponse({"error": "Internal server error"}, status_code=500)
    check = await run_in_threadpool(_probe_database, state)
    up = check["connected"]
    # ClickHouse and Redis are not configured on staging: they show as not_configured.
    checks: dict[str, dict[str, Any]] = {
        "postgresql": check,
        "clickhouse": {"status": "not_configured", "connected": False, "response_time_ms": None,
                       "error": None},
        "redis": {"status": "not_configured", "connected": False, "response_time_ms": None,
                  "error": None}}
    if "health-dependency-without-status" in state.faults:
        del checks["redis"]["status"]
    body: dict[str, Any] = {"status": "healthy" if up else "unhealthy",
                            "timestamp": datetime.now(UTC).isoformat(), "checks": checks,
                            "version": state.version, "environment": "standin"}
    if "version-unreported" in state.faults:
        del body["version"]
    return JSONResponse(body, status_code=200 if up else 503)
