"""GET /api/mcp/servers: the agent servers registered in the database."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from .db import Database
from .models import MCPExternalServer

log = logging.getLogger("standin.discovery")


def list_servers(database: Database) -> list[dict[str, Any]]:
    """The registry as the newer contract shape lists it; raises SQLAlchemyError."""
    with database.session() as session:
        rows = session.scalars(select(MCPExternalServer).order_by(MCPExternalServer.name)).all()
        return [{
            "name": row.name,
            "status": row.status,
            "version": (row.meta or {}).get("version", "unknown"),
            "capabilities": row.capabilities or {"tools": [], "resources": [], "prompts": []},
            "description": (row.meta or {}).get("description", ""),
            "transport": row.transport,
        } for row in rows]


async def mcp_servers(request: Request) -> JSONResponse:
    try:
        servers = await run_in_threadpool(list_servers, request.app.state.standin.database)
    except SQLAlchemyError as exc:
        log.error("listing MCP servers failed: %s", str(exc).splitlines()[0])
        return JSONResponse({"error": "Internal server error"}, status_code=500)
    return JSONResponse({"data": servers, "status": "success"})
