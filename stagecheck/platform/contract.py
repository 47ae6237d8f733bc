"""What the platform contract promises, in the shapes the suite accepts (every documented
variant, nothing else)."""

from __future__ import annotations

from typing import Any

UP_STATUSES = frozenset({"healthy", "degraded", "ok"})
REFUSAL_STATUSES = frozenset({401, 403})
# After an auth error the platform closes with 1008 (seed era) or 1011 (2025-09-08 to 09-10).
REFUSAL_CLOSE_CODES = frozenset({1008, 1011})
# Frames a live session may send at any time; never the answer to anything.
UNSOLICITED = frozenset({"handshake_validation", "ping", "heartbeat"})
THREAD_CREATED = frozenset({200, 201})
# Routes that open a database session in the platform's code (get_current_user_optional and the
# thread routes): when several answer 5xx while the schema is complete, sessions are failing.
DATABASE_ROUTES = ("/api/mcp/servers", "/api/threads")
DETAILED_HEALTH = "/api/health"
AGENT_EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed",
                "agent_completed")
AGENT_END_EVENTS = frozenset({"agent_completed", "agent_error"})
USER_MESSAGE = "user_message"
EXPECTED_TABLES = ("users", "threads", "messages", "mcp_external_servers", "mcp_tool_executions",
                   "mcp_resource_access")


def is_welcome(frame: dict[str, Any]) -> bool:
    """The seed-era `system_message`/`connection_established` or the newer top-level type."""
    if frame.get("type") == "connection_established":
        return True
    data = frame.get("data")
    return (frame.get("type") == "system_message" and isinstance(data, dict)
            and data.get("event") == "connection_established")


def reported_version(body: Any) -> str:
    """The version (or build) a health answer reports; "" when it reports none."""
    if not isinstance(body, dict):
        return ""
    return str(body.get("version") or body.get("build") or "")


def is_agent_event(frame: dict[str, Any]) -> bool:
    return str(frame.get("type", "")).startswith(("agent_", "tool_"))


def agent_servers(body: Any) -> list[dict[str, Any]] | None:
    """The server list of `{"servers": [...]}` or `{"data": [...], "status": "success"}`."""
    if isinstance(body, dict):
        for key in ("servers", "data"):
            if isinstance(body.get(key), list):
                return body[key]
    return None


def thread_messages(body: Any) -> list[dict[str, Any]] | None:
    """A thread's messages: a list, or `{"messages": [...]}` / `{"data": [...]}`."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("messages", "data"):
            if isinstance(body.get(key), list):
                return body[key]
    return None


def is_acknowledgement(frame: dict[str, Any]) -> bool:
    """A user message acknowledged: `{"type": "ack"}` (variant) or, at the seed's commit,
    `{"type": "system_message", "data": {"status": "acknowledged"}}` (websocket_core/handlers.py)."""
    if frame.get("type") == "ack":
        return True
    data = frame.get("data")
    return (frame.get("type") == "system_message" and isinstance(data, dict)
            and data.get("status") == "acknowledged")


def is_error(frame: dict[str, Any]) -> bool:
    return frame.get("type") in ("error_message", "error")


def error_code(frame: dict[str, Any]) -> str:
    """The code of an error frame: `code` or `error_code`, whichever the platform sent."""
    return str(frame.get("code") or frame.get("error_code") or "")


def is_answer_to_message(frame: dict[str, Any]) -> bool:
    """What the platform sends in answer to a user message: an acknowledgement or an error."""
    return is_acknowledgement(frame) or is_error(frame)
