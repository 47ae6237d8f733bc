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
        Fault("ws-auth-not-enforced", "a WebSocket session without a token is accepted"),
        Fault("invalid-token-accepted",
              "a WebSocket session with a token whose signature is wrong is accepted"),
        Fault("ws-no-welcome", "no welcome message after a WebSocket session is accepted"),
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
