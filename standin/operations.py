"""What operations read: readiness and service discovery.

Shapes from `netra_backend/app/routes/health.py` (`/health/ready`) and
`netra_backend/app/routes/discovery.py` (`/api/discovery/services`, also under `/api/v1`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from .health import SERVICE

if TYPE_CHECKING:
    from .state import StandinState


def _database_answers(state: StandinState) -> bool:
    try:
        with state.database.session() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


async def ready(request: Request) -> JSONResponse:
    """GET /health/ready: ready once started with its core database; 503 otherwise."""
    state = request.app.state.standin
    if "readiness-not-ready" in state.faults:
        return JSONResponse({"status": "unhealthy", "message": "Startup not complete - not ready",
                             "startup_complete": False}, status_code=503)
    if not await run_in_threadpool(_database_answers, state):
        return JSONResponse({"detail": "Core database unavailable"}, status_code=503)
    return JSONResponse({"status": "ready", "service": SERVICE, "timestamp": time.time(),
                         "environment": "standin", "core_db": "connected",
                         "clickhouse_db": "skipped_optional", "redis_db": "skipped_optional",
                         "details": {"status": "healthy"}})


async def services(request: Request) -> JSONResponse:
    """GET /api/discovery/services: where each service listens (no auth)."""
    state = request.app.state.standin
    now = datetime.now(UTC).isoformat()
    origin = f"{request.url.scheme}://{request.url.netloc}"
    ws = origin.replace("http", "ws", 1)
    found = {} if "service-discovery-empty" in state.faults else {
        "backend": {"port": request.url.port, "url": origin, "api_url": origin,
                    "ws_url": f"{ws}/ws", "timestamp": now, "cors_metadata": None},
        "auth": {"port": request.url.port, "url": origin, "api_url": origin, "ws_url": None,
                 "timestamp": now, "cors_metadata": None},
    }
    return JSONResponse({"services": found, "timestamp": now, "available": bool(found)})
