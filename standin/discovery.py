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
    """The registry, one record per server; raises SQLAlchemyError.

    The real route at cc536e0b5 answers from a fixed list and fails only through its
    get_current_user_optional session; reading the registry lets missing tables show too."""
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
    """GET /api/mcp/servers, in the variant's envelope (netra_backend/app/routes/mcp/main.py)."""
    state = request.app.state.standin
    try:
        servers = await run_in_threadpool(list_servers, state.database)
    except SQLAlchemyError as exc:
        log.error("listing MCP servers failed: %s", str(exc).splitlines()[0])
        return JSONResponse({"error": "Internal server error"}, status_code=500)
    if "discovery-server-without-status" in state.faults:
        servers = [{k: v for k, v in server.items() if k != "status"} for server in servers]
    if state.variant.discovery_key == "data":
        return JSONResponse({"data": servers, "status": "success"})
    return JSONResponse({state.variant.discovery_key: servers})
