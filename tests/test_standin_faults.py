"""Each named fault breaks the contract clauses it names, and no other, in each variant."""

from __future__ import annotations

import pytest

from standin import FAULTS, VARIANTS, IncompatibleFaultError, check_combination, start_standin
from tests.contract_probe import CLAUSES, broken_clauses

AGENT = {"agent_run", "agent_run_within_budget", "agent_one_run_id"}
DISCOVERY = {"discovery", "discovery_servers_described"}
MESSAGES = {"message_stored", "message_order", "thread_isolation"}
THREADS = MESSAGES | {"owner_reads_own_thread"}
DATABASE = {"api_health"} | DISCOVERY | {"agent_run", "agent_run_within_budget"} | THREADS
SIGNED_IN = set(CLAUSES) - {"health", "health_latency", "api_health", "ws_no_token_refused",
                            "ws_invalid_token_refused", "sign_in_wrong_key_refused"} - DISCOVERY

EXPECTED_BROKEN = {
    "missing-mcp-tables": DISCOVERY | {"agent_run", "agent_run_within_budget"},
    "health-down": {"health"},
    "db-down": DATABASE,
    "ws-auth-not-enforced": {"ws_no_token_refused"},
    "invalid-token-accepted": {"ws_invalid_token_refused"},
    "ws-no-welcome": {"ws_welcome", "welcome_under_load"},
    "ws-drop-after-welcome": {"ws_ping", "concurrent_sessions"} | AGENT | MESSAGES,
    "agent-skips-tool-events": {"agent_run"},
    "agent-never-completes": {"agent_run", "agent_run_within_budget"},
    "thread-leak": {"thread_isolation"},
    "messages-out-of-order": {"message_order"},
    "slow-responses": {"health_latency", "ws_welcome", "welcome_under_load"},
    "hang": {"health", "health_latency", "api_health"},
    "session-limit-1": {"concurrent_sessions", "welcome_under_load"},
    "bypass-rejected": SIGNED_IN,
    "bypass-not-enforced": {"sign_in_wrong_key_refused"},
    "messages-not-stored": {"message_stored", "message_order"},
    "threads-not-persisted": THREADS,
    "agent-silent-failure": AGENT,
    "db-sessions-broken": DATABASE,
    "refusal-without-close": {"ws_no_token_refused", "ws_invalid_token_refused"},
    "discovery-server-without-status": {"discovery_servers_described"},
    "agent-mixed-run-ids": {"agent_one_run_id"},
    "agent-slow": {"agent_run_within_budget"},
    "message-handler-error": MESSAGES,
    "slow-under-load": {"welcome_under_load"},
    # the probe uses one user for all its sessions: past the 20th, its last clauses are refused
    "user-lockout": {"message_order", "thread_isolation"},
}
# The P2-P6 faults break clauses this probe mostly does not read (the gate's own scenarios prove
# each, tests/test_scenarios_detect_faults.py); here: the P1 clauses they break too, if any.
TIER_FAULTS: dict[str, set[str]] = {
    **{name: set() for name in FAULTS if name not in EXPECTED_BROKEN},
    "messages-duplicated": {"message_stored", "message_order"},
    "thread-list-misses-newest": {"owner_reads_own_thread"},
    # one answer in ten late: one of the twelve welcomes at once
    "latency-over-hard-budget": {"welcome_under_load"},
    "latency-over-soft-budget": {"welcome_under_load"},
}

FAULT_VARIANTS = ["default", "handshake-403"]


def _playable(variant: str, fault: str) -> bool:
    try:
        check_combination(variant, [fault])
    except IncompatibleFaultError:
        return False
    return True


def test_every_fault_is_in_the_table() -> None:
    assert set(EXPECTED_BROKEN) | set(TIER_FAULTS) == set(FAULTS)
    assert all(EXPECTED_BROKEN.values())


def test_no_fault_breaks_no_clause(standin) -> None:
    assert broken_clauses(standin) == set()


@pytest.mark.parametrize(("variant", "fault"), [
    (variant, fault) for variant in FAULT_VARIANTS for fault in sorted(FAULTS)
    if _playable(variant, fault)])  # refusal-without-close cannot happen in handshake-403
def test_fault_breaks_exactly_its_clauses(variant: str, fault: str) -> None:
    with start_standin(faults=[fault], variant=variant) as running:
        assert broken_clauses(running) == {**EXPECTED_BROKEN, **TIER_FAULTS}[fault]


@pytest.mark.parametrize("fault", ["missing-mcp-tables", "db-down", "db-sessions-broken",
                                   "thread-leak", "threads-not-persisted"])
def test_fault_switched_at_run_time_breaks_and_then_heals(standin, fault: str) -> None:
    standin.set_faults([fault])
    assert broken_clauses(standin) == EXPECTED_BROKEN[fault]
    standin.set_faults([])
    assert broken_clauses(standin) == set()


def test_db_sessions_broken_keeps_the_schema_and_health(tmp_path) -> None:
    import httpx
    from sqlalchemy import create_engine, inspect

    with start_standin(faults=["db-sessions-broken"]) as running:
        base = running.urls.backend_url
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        for path in ("/api/mcp/servers", "/api/health"):
            answer = httpx.get(f"{base}{path}", timeout=5)
            assert answer.status_code == 500 and answer.json() == {"error": "Internal server error"}
        engine = create_engine(running.database_url)
        try:
            tables = set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
        assert {"mcp_external_servers", "mcp_tool_executions", "threads"} <= tables


def test_variants_and_faults_are_all_playable_except_the_named_pairs() -> None:
    impossible = {(v, f) for v in VARIANTS for f in FAULTS if not _playable(v, f)}
    assert impossible == {("handshake-403", "refusal-without-close")}


def test_unknown_variant_is_refused_before_anything_starts() -> None:
    from standin import UnknownVariantError

    with pytest.raises(UnknownVariantError, match="known variants: default"):
        check_combination("beta-99", [])
    with pytest.raises(UnknownVariantError), start_standin(variant="beta-99"):
        pass


def test_incompatible_fault_is_refused_at_start_and_at_run_time() -> None:
    with pytest.raises(IncompatibleFaultError, match="refusal-without-close"), \
            start_standin(faults=["refusal-without-close"], variant="handshake-403"):
        pass
    with start_standin(variant="handshake-403") as running:
        with pytest.raises(IncompatibleFaultError):
            running.set_faults(["refusal-without-close"])
        assert running.faults == frozenset()
