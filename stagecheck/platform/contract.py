"""What the platform contract promises, in the shapes the suite accepts (every documented
variant, nothing else)."""

from __future__ import annotations

import re
from typing import Any

UP_STATUSES = frozenset({"healthy", "degraded", "ok"})
REFUSAL_STATUSES = frozenset({401, 403})
# After an auth error the platform closes with 1008 (seed era) or 1011 (2025-09-08 to 09-10).
REFUSAL_CLOSE_CODES = frozenset({1008, 1011})
# Frames a live session may send at any time; never the answer to anything.
UNSOLICITED = frozenset({"handshake_validation", "ping", "heartbeat"})
# routes/websocket.py drops a frame over this many bytes without an answer (no ack, no error).
FRAME_LIMIT_BYTES = 8192
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


def reported_status(body: Any) -> Any:
    """The `status` a health answer reports, of whatever JSON type it came; None without one."""
    return body.get("status") if isinstance(body, dict) else None


def is_up(status: Any) -> bool:
    """Whether a reported status says up: one of UP_STATUSES, and a string (any other JSON
    type, a list or an object, is no status at all)."""
    return isinstance(status, str) and status in UP_STATUSES


def dependency_checks(body: Any) -> dict[str, Any] | None:
    """The detailed health's `checks`, an object naming each dependency; None when absent or
    of another JSON type (a list, a string)."""
    checks = body.get("checks") if isinstance(body, dict) else None
    return checks if isinstance(checks, dict) else None


def database_check(body: Any) -> dict[str, Any]:
    """The core database's entry of the detailed health (`postgresql`, or `database`), {} when
    there is none or it is not an object."""
    checks = dependency_checks(body) or {}
    database = checks.get("postgresql") or checks.get("database")
    return database if isinstance(database, dict) else {}


def reported_version(body: Any) -> str:
    """The version (or build) a health answer reports, a string or a number; "" when it
    reports none, or reports it as a list or an object."""
    if not isinstance(body, dict):
        return ""
    named = body.get("version") or body.get("build")
    return str(named) if isinstance(named, str | int | float) and not isinstance(named, bool) \
        else ""


def is_agent_event(frame: dict[str, Any]) -> bool:
    return str(frame.get("type", "")).startswith(("agent_", "tool_"))


def is_end_event(frame: dict[str, Any]) -> bool:
    """The last event of an agent run (a `type` of another JSON type is no event at all)."""
    kind = frame.get("type")
    return isinstance(kind, str) and kind in AGENT_END_EVENTS


def agent_servers(body: Any) -> list[dict[str, Any]] | None:
    """The server list of `{"servers": [...]}` or `{"data": [...], "status": "success"}`."""
    if isinstance(body, dict):
        for key in ("servers", "data"):
            if isinstance(body.get(key), list):
                return body[key]
    return None


def _listed(body: Any, keys: tuple[str, ...]) -> list[Any] | None:
    """The list an answer is, or holds under the first of `keys` that holds one."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), list):
                return body[key]
    return None


def thread_messages(body: Any) -> list[dict[str, Any]] | None:
    """A thread's messages: a list, or `{"messages": [...]}` / `{"data": [...]}`."""
    return _listed(body, ("messages", "data"))


def identifier(value: Any) -> str | None:
    """An id as the platform sends it, a non-empty string (or a whole number); None for any
    other JSON type (an object, a list, true) or an empty string."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def run_id(frame: dict[str, Any]) -> str | None:
    """The run an agent event belongs to (its `run_id`), None when it names none."""
    return identifier(frame.get("run_id"))


def conversations(body: Any) -> list[Any] | None:
    """A user's conversations: a list, or `{"threads": [...]}` / `{"data": [...]}`."""
    return _listed(body, ("threads", "data"))


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


# routes/agents_execute.py at cc536e0b5 answers "status": "success" without running an agent:
# "Fallback <kind> agent response: Successfully processed '…' using recovery mechanism" when the
# agent fails, "Mock <kind> agent response for: …" when the message mentions a test ("test" in
# any case, or a message starting "Test" or "WebSocket"), "Mock … response (timeout fallback)"
# after 5 s; "TIMEOUT…" and "FORCE_ERROR" simulate a timeout and a failure.
_CANNED = re.compile(r"\b(?:fallback|mock)\b[^.]*\bresponse\b|recovery mechanism|timeout fallback",
                     re.IGNORECASE)


def is_canned_agent_answer(text: str) -> bool:
    return bool(_CANNED.search(text))


def switches_test_shortcut(message: str) -> bool:
    """Whether the platform's agent route would take a shortcut for this message (a mock
    answer, a simulated failure or timeout) instead of running an agent."""
    return ("test" in message.lower() or message.startswith(("Test", "WebSocket", "TIMEOUT"))
            or message == "FORCE_ERROR")
