"""Every P1 scenario can fail: each stand-in fault fails the scenarios that depend on the
broken clause, and every other scenario passes."""

from __future__ import annotations

import pytest

from standin import FAULTS
from tests.behave_run import FAST, run_behave

WELCOMED = "A signed-in user opens a live session and is welcomed"
NO_TOKEN = "A live session without a token is refused"
BAD_TOKEN = "A live session with an invalid token is refused"
PING = "A live session answers a ping"
MESSAGE = "A message sent in a live session is acknowledged and kept in its conversation"
CONCURRENT = "5 users hold live sessions at the same time"
DISCOVERY = "A user discovers the available agent servers"
SIGN_IN = "A test user signs in through the staging sign-in bypass"
WRONG_KEY = "A sign-in with a wrong bypass key is refused"
HEALTH = "The backend reports itself up within its budget"
DATABASE = "The backend reports its database connected"
AGENT_RUN = "A user's request streams its progress and completes"
ORDER = "A user's messages come back in the order they were sent"
PRIVACY = "A user cannot see another user's conversation"
ALL = {WELCOMED, NO_TOKEN, BAD_TOKEN, PING, MESSAGE, CONCURRENT, DISCOVERY, SIGN_IN, WRONG_KEY,
       HEALTH, DATABASE, AGENT_RUN, ORDER, PRIVACY}

# fault -> (scenarios that must fail, words the failure message must contain, in that scenario)
DETECTS = {
    "missing-mcp-tables": ({DISCOVERY, AGENT_RUN}, DISCOVERY, "/api/mcp/servers answered 500"),
    "health-down": ({HEALTH}, HEALTH, "/health answered 503"),
    "db-down": ({DATABASE, DISCOVERY, MESSAGE, AGENT_RUN, ORDER, PRIVACY}, DATABASE,
                "/api/health answered 503"),
    "ws-auth-not-enforced": ({NO_TOKEN}, NO_TOKEN, "but it was accepted and sent 'system_message'"),
    "invalid-token-accepted": ({BAD_TOKEN}, BAD_TOKEN, "should refuse the session"),
    "ws-no-welcome": ({WELCOMED, CONCURRENT}, WELCOMED, "no welcome message arrived"),
    "ws-drop-after-welcome": ({PING, MESSAGE, CONCURRENT, AGENT_RUN, ORDER}, PING,
                              "was closed (code 1011"),
    "agent-skips-tool-events": ({AGENT_RUN}, AGENT_RUN, "should stream agent_started"),
    "agent-never-completes": ({AGENT_RUN}, AGENT_RUN, "no end of the agent run"),
    "thread-leak": ({PRIVACY}, PRIVACY, "should be refused with 404 or 403, but GET"),
    "messages-out-of-order": ({ORDER}, ORDER, "oldest first"),
    "slow-responses": ({WELCOMED, PING, CONCURRENT, HEALTH}, HEALTH,
                       "should answer its health check within 2 s"),
    "hang": ({HEALTH, DATABASE}, HEALTH, "/health did not answer within 4 s"),
    "session-limit-1": ({CONCURRENT}, CONCURRENT, "code 1008"),
    "bypass-rejected": (ALL - {NO_TOKEN, BAD_TOKEN, WRONG_KEY, HEALTH, DATABASE}, SIGN_IN,
                        "should accept the right key, but POST"),
    "bypass-not-enforced": ({WRONG_KEY}, WRONG_KEY, "should be refused with 401, but POST"),
}


def test_table_covers_every_fault_and_every_scenario() -> None:
    assert set(DETECTS) == set(FAULTS)
    assert set().union(*(failing for failing, _, _ in DETECTS.values())) == ALL


def test_clean_stand_in_passes_every_p1_scenario(tmp_path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", *FAST)
    assert set(run.scenarios) == ALL
    assert run.failing() == set(), run.stdout[-3000:]
    assert run.returncode == 0


@pytest.mark.parametrize("fault", sorted(DETECTS))
def test_fault_fails_exactly_the_scenarios_that_depend_on_it(tmp_path, fault: str) -> None:
    must_fail, named_in, words = DETECTS[fault]
    run = run_behave(tmp_path, "--tags=@p1", "-D", f"standin_fault={fault}", *FAST)
    assert set(run.scenarios) == ALL
    assert run.failing() == must_fail, run.stdout[-3000:]
    assert words in run.errors(named_in)
    assert run.returncode != 0


def test_seed_incident_stops_at_discovery_after_sessions_passed(tmp_path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "--stop", "-D", "standin_fault=missing-mcp-tables")
    sessions = {WELCOMED, NO_TOKEN, BAD_TOKEN, PING, MESSAGE, CONCURRENT}
    assert {name for name in sessions if run.status(name) == "passed"} == sessions
    assert run.status(DISCOVERY) == "failed"
    assert "GET http" in run.errors(DISCOVERY) and "/api/mcp/servers answered 500" in run.errors(DISCOVERY)
    assert all(run.scenarios.get(name, {}).get("status", "untested") in ("untested", "skipped")
               for name in ALL - sessions - {DISCOVERY})
