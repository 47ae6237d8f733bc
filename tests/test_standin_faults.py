"""Each named fault breaks the contract clauses it names, and no other."""

from __future__ import annotations

import pytest

from standin import FAULTS, start_standin
from tests.contract_probe import CLAUSES, broken_clauses

DATABASE = {"api_health", "discovery", "agent_run", "message_order", "thread_isolation"}
SIGNED_IN = set(CLAUSES) - {"health", "health_latency", "api_health", "ws_no_token_refused",
                            "ws_invalid_token_refused", "sign_in_wrong_key_refused",
                            "discovery"}

EXPECTED_BROKEN = {
    "missing-mcp-tables": {"discovery", "agent_run"},
    "health-down": {"health"},
    "db-down": DATABASE,
    "ws-auth-not-enforced": {"ws_no_token_refused"},
    "invalid-token-accepted": {"ws_invalid_token_refused"},
    "ws-no-welcome": {"ws_welcome"},
    "ws-drop-after-welcome": {"ws_ping", "concurrent_sessions", "agent_run", "message_order",
                              "thread_isolation"},
    "agent-skips-tool-events": {"agent_run"},
    "agent-never-completes": {"agent_run"},
    "thread-leak": {"thread_isolation"},
    "messages-out-of-order": {"message_order"},
    "slow-responses": {"health_latency", "ws_welcome"},
    "hang": {"health", "health_latency", "api_health"},
    "session-limit-1": {"concurrent_sessions"},
    "bypass-rejected": SIGNED_IN,
    "bypass-not-enforced": {"sign_in_wrong_key_refused"},
}


def test_every_fault_is_in_the_table() -> None:
    assert set(EXPECTED_BROKEN) == set(FAULTS)


def test_no_fault_breaks_no_clause(standin) -> None:
    assert broken_clauses(standin) == set()


@pytest.mark.parametrize("fault", sorted(EXPECTED_BROKEN))
def test_fault_breaks_exactly_its_clauses(fault: str) -> None:
    with start_standin(faults=[fault]) as running:
        assert broken_clauses(running) == EXPECTED_BROKEN[fault]


@pytest.mark.parametrize("fault", ["missing-mcp-tables", "db-down", "thread-leak"])
def test_fault_switched_at_run_time_breaks_and_then_heals(standin, fault: str) -> None:
    standin.set_faults([fault])
    assert broken_clauses(standin) == EXPECTED_BROKEN[fault]
    standin.set_faults([])
    assert broken_clauses(standin) == set()
