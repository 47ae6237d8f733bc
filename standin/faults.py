"""Named faults: each switches off exactly one clause of the platform contract."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import UnknownFaultError


@dataclass(frozen=True)
class Fault:
    """A named way for the stand-in to break, and the contract clause it breaks."""

    name: str
    clause: str


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault("missing-mcp-tables",
              "the database stops one migration short of head: no MCP tables, "
              "GET /api/mcp/servers answers 500 while health stays green"),
        Fault("health-down", "GET /health answers 503 {\"status\": \"unhealthy\"}"),
        Fault("db-down", "the core database cannot be reached: /api/health answers 503 "
                         "and every endpoint that reads the database fails"),
        Fault("ws-auth-not-enforced",
              "a WebSocket session without a token is served, welcome and all"),
        Fault("invalid-token-accepted",
              "a WebSocket session with a token whose signature is wrong is served, welcome and all"),
        Fault("ws-no-welcome", "no welcome (of the variant's shape) after a session is accepted"),
        Fault("ws-drop-after-welcome",
              "every WebSocket session is closed with 1011 right after its welcome"),
        Fault("agent-skips-tool-events",
              "an agent run emits no tool_executing / tool_completed events"),
        Fault("agent-never-completes", "an agent run never emits agent_completed"),
        Fault("thread-leak", "a user can read another user's thread and its messages"),
        Fault("messages-out-of-order", "a thread's messages are listed newest first"),
        Fault("slow-responses",
              "health answers and WebSocket welcomes are delayed beyond the contract's budgets"),
        Fault("hang", "GET /health and GET /api/health never answer"),
        Fault("session-limit-1",
              "only one WebSocket session at a time: a second concurrent one is closed with 1008"),
        Fault("bypass-rejected", "POST /auth/e2e/test-auth refuses the right bypass key with 401"),
        Fault("bypass-not-enforced", "POST /auth/e2e/test-auth signs in with any bypass key"),
        Fault("messages-not-stored",
              "a user message is acknowledged but never stored in its thread "
              "(the real defect at cc536e0b5)"),
        Fault("threads-not-persisted",
              "POST /api/threads answers with an id but stores nothing: the owner gets 404 for "
              "it and an empty list (real defect: base_crud._create_entity flushes only)"),
        Fault("agent-silent-failure",
              "an agent run sends no event at all, not even agent_error "
              "(real defect: the error is logged and swallowed)"),
        Fault("db-sessions-broken",
              "every route that opens a database session answers 500 while GET /health stays "
              "up and the schema stays complete (commit 523a40a34, poolclass=QueuePool)"),
        Fault("refusal-without-close",
              "a session with a missing or invalid token gets the error frame but stays open "
              "and keeps answering"),
        Fault("discovery-server-without-status", "discovery lists a server without a status"),
        Fault("agent-mixed-run-ids", "the events of one agent run carry two different run_ids"),
        Fault("agent-slow", "agent_completed arrives about 11 s after the start (budget 10 s)"),
        Fault("slow-under-load",
              "a session opened while more than 8 are open sends every frame 2.5 s late "
              "(welcome, pongs, agent events)"),
        Fault("message-handler-error",
              "a user message is answered with error_message HANDLER_ERROR "
              "instead of an acknowledgement"),
        # P2 security and auth
        Fault("expired-token-accepted",
              "the backend accepts an expired token, on its API and in live sessions"),
        Fault("api-invalid-token-accepted",
              "the backend's API accepts a token whose signature is wrong"),
        Fault("refresh-token-accepted",
              "the backend accepts a refresh token as an access token, on its API and in live "
              "sessions"),
        Fault("e2e-header-bypass",
              "a live session with any token string is served when a header name says test or "
              "e2e (the hole in websocket_core/unified_websocket_auth.py)"),
        Fault("logout-not-enforced",
              "POST /auth/logout answers success but the token keeps working"),
        Fault("api-auth-not-enforced",
              "the conversation endpoints serve callers without a token"),
        Fault("thread-write-leak", "a user's message is stored in another user's conversation"),
        # P3 agent workflows
        Fault("agent-error-swallowed",
              "a run that cannot be carried out sends no agent_error: the user hears nothing"),
        Fault("agent-events-cross-users",
              "the events of one user's agent run are sent to every open session"),
        Fault("agent-follow-up-stalls",
              "a second agent run in the same conversation never completes"),
        Fault("agent-api-error",
              "POST /api/agents/* answers {\"status\": \"error\"} instead of a result"),
        Fault("agent-canned-answer",
              "POST /api/agents/* answers status success with the route's recovery text "
              "(\"Fallback general agent response: Successfully processed '…' using recovery "
              "mechanism\"): no agent ran"),
        Fault("agent-mock-answer",
              "POST /api/agents/* answers status success with the route's test shortcut "
              "(\"Mock triage agent response for: …\"): no agent ran"),
        # P4 performance and experience
        Fault("latency-over-hard-budget",
              "one in ten health answers, welcomes, pongs and first agent events is 2.5 s late"),
        Fault("latency-over-soft-budget",
              "one in ten health answers, welcomes, pongs and first agent events is 1.2 s late"),
        # P5 data integrity
        Fault("messages-lost-on-reconnect",
              "the messages a session stored are deleted when the session ends"),
        Fault("messages-unicode-mangled",
              "stored messages lose every character outside ASCII (replaced with ?)"),
        Fault("messages-truncated", "stored messages are cut to their first 4096 characters"),
        Fault("messages-duplicated", "every message is stored twice"),
        Fault("thread-list-misses-newest", "GET /api/threads leaves out the newest conversation"),
        Fault("user-lockout",
              "a user's sessions and agent requests each hold a manager, freed only after "
              "minutes idle; past 20 a new session gets error_message FACTORY_INIT_FAILED and "
              "is closed with 1011 (websocket_core/websocket_manager_factory.py)"),
        Fault("message-size-limit",
              "a live-session frame over 8,192 bytes is dropped without an answer "
              "(routes/websocket.py at cc536e0b5)"),
        # P6 operations
        Fault("version-unreported", "neither health answer reports a version"),
        Fault("readiness-not-ready",
              "GET /health/ready answers 503 not ready while the backend serves"),
        Fault("service-discovery-empty", "GET /api/discovery/services lists no service"),
        Fault("health-dependency-without-status",
              "the detailed health lists a dependency without its status"),
    )
}


def check_fault_names(names: Iterable[str]) -> frozenset[str]:
    """Return the names as a set, or raise UnknownFaultError for the first unknown one."""
    result = frozenset(names)
    for name in sorted(result):
        if name not in FAULTS:
            raise UnknownFaultError(name, sorted(FAULTS))
    return result


class FaultSwitch:
    """The faults switched on in a running stand-in; safe to change from another thread."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._active = check_fault_names(names)

    def __contains__(self, name: str) -> bool:
        if name not in FAULTS:
            raise UnknownFaultError(name, sorted(FAULTS))
        return name in self._active

    @property
    def active(self) -> frozenset[str]:
        return self._active

    def replace(self, names: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
        """Switch exactly these faults on; return (switched on, switched off)."""
        new = check_fault_names(names)
        with self._lock:
            old, self._active = self._active, new
        return new - old, old - new
