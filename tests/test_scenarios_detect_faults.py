"""Every check can fail: each stand-in fault fails exactly the scenarios that depend on the clause
it breaks, each at the step named here, on every variant of the platform; and every Then step
of every scenario is the failing step under at least one fault."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from standin import FAULTS, VARIANTS, IncompatibleFaultError, check_combination
from tests.behave_run import FAST, ROOT, run_behave
from tests.test_load import LOAD_DETECTS, load_then_steps

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

# The steps, by the words of the feature files.
SIGNED_IN = "a signed-in user"
WITH_SESSION = "a signed-in user with an open live session"
WITH_CONVERSATION = "a signed-in user who has started a conversation"
MANY_SIGNED_IN = "5 signed-in users"
IS_WELCOMED = "the user is welcomed within 2 seconds"
IS_REFUSED = "the session is refused"
PONG = "the session answers with a pong within 2 seconds"
ACKNOWLEDGED = "the message is acknowledged"
CONTAINS = 'the conversation contains the message "Hello from the release gate"'
ALL_WELCOMED = "every one of them is welcomed within 2 seconds"
STAY_OPEN = "every session stays open"
SOME_SERVER = "at least one agent server is listed"
SERVERS_NAMED = "every agent server is named with its status"
TOKEN_ACCEPTED = "the user receives an access token that the auth service accepts"
SIGN_IN_REFUSED = "the sign-in is refused"
CHECK_HEALTH = "the release gate checks the backend's health"
CHECK_DETAILED = "the release gate checks the backend's detailed health"
BACKEND_UP = "the backend reports itself up within 2 seconds"
DATABASE_CONNECTED = "the core database is reported connected"
EVENTS_IN_ORDER = "the user sees the progress events in this order:"
ONE_RUN = "every progress event belongs to the same run"
COMPLETES = "the run completes within 10 seconds"
SEND_MESSAGES = "the user sends the messages:"
STARTED_CONVERSATION = "the user has started a conversation"
IN_ORDER = "the conversation lists the messages in the order they were sent"
OWNER_READS = "the first user is shown the conversation"
NOT_SHOWN = "it is not shown to the other user"

SIGNED_IN_SCENARIOS = {WELCOMED: SIGNED_IN, PING: WITH_SESSION, MESSAGE: WITH_SESSION,
                       CONCURRENT: MANY_SIGNED_IN, DISCOVERY: SIGNED_IN, AGENT_RUN: WITH_SESSION,
                       ORDER: WITH_SESSION, PRIVACY: WITH_CONVERSATION}

# Faults of clauses the P1 scenarios do not depend on, proven by the tests named here instead.
PROVEN_ELSEWHERE = {"slow-under-load": "tests/test_load.py"}

# fault -> {scenario that must fail: the step at which it must fail}; every other scenario passes.
DETECTS: dict[str, dict[str, str]] = {
    "missing-mcp-tables": {DISCOVERY: SOME_SERVER, AGENT_RUN: EVENTS_IN_ORDER},
    "health-down": {HEALTH: BACKEND_UP},
    "db-down": {DATABASE: DATABASE_CONNECTED, DISCOVERY: SOME_SERVER, MESSAGE: STARTED_CONVERSATION,
                AGENT_RUN: EVENTS_IN_ORDER, ORDER: STARTED_CONVERSATION,
                PRIVACY: WITH_CONVERSATION},
    "ws-auth-not-enforced": {NO_TOKEN: IS_REFUSED},
    "invalid-token-accepted": {BAD_TOKEN: IS_REFUSED},
    "refusal-without-close": {NO_TOKEN: IS_REFUSED, BAD_TOKEN: IS_REFUSED},
    "ws-no-welcome": {WELCOMED: IS_WELCOMED, CONCURRENT: ALL_WELCOMED},
    "ws-drop-after-welcome": {PING: PONG, MESSAGE: ACKNOWLEDGED, CONCURRENT: STAY_OPEN,
                              AGENT_RUN: EVENTS_IN_ORDER, ORDER: SEND_MESSAGES},
    "message-handler-error": {MESSAGE: ACKNOWLEDGED, ORDER: SEND_MESSAGES},
    "messages-not-stored": {MESSAGE: CONTAINS, ORDER: IN_ORDER},
    "messages-out-of-order": {ORDER: IN_ORDER},
    "threads-not-persisted": {MESSAGE: CONTAINS, ORDER: IN_ORDER, PRIVACY: OWNER_READS},
    "thread-leak": {PRIVACY: NOT_SHOWN},
    "discovery-server-without-status": {DISCOVERY: SERVERS_NAMED},
    "agent-skips-tool-events": {AGENT_RUN: EVENTS_IN_ORDER},
    "agent-never-completes": {AGENT_RUN: EVENTS_IN_ORDER},
    "agent-silent-failure": {AGENT_RUN: EVENTS_IN_ORDER},
    "agent-mixed-run-ids": {AGENT_RUN: ONE_RUN},
    "agent-slow": {AGENT_RUN: COMPLETES},
    "db-sessions-broken": {DATABASE: DATABASE_CONNECTED, DISCOVERY: SOME_SERVER,
                           MESSAGE: STARTED_CONVERSATION,
                           AGENT_RUN: EVENTS_IN_ORDER, ORDER: STARTED_CONVERSATION,
                           PRIVACY: WITH_CONVERSATION},
    "slow-responses": {WELCOMED: IS_WELCOMED, PING: PONG, CONCURRENT: ALL_WELCOMED,
                       HEALTH: BACKEND_UP},
    "hang": {HEALTH: CHECK_HEALTH, DATABASE: CHECK_DETAILED},
    "session-limit-1": {CONCURRENT: ALL_WELCOMED},
    "bypass-rejected": {**SIGNED_IN_SCENARIOS, SIGN_IN: TOKEN_ACCEPTED},
    "bypass-not-enforced": {WRONG_KEY: SIGN_IN_REFUSED},
}

# The four real defects of the platform at cc536e0b5: the report must name each in plain words.
PLAIN_WORDS = {
    "messages-not-stored": (MESSAGE, "acknowledged but not stored", "Product defect"),
    "threads-not-persisted": (PRIVACY, "conversation not stored", "Product defect"),
    "agent-silent-failure": (AGENT_RUN, "the agent run was silent: no event within",
                             "Product defect"),
    "db-sessions-broken": (DISCOVERY, "500 Internal Server Error on GET /api/mcp/servers",
                           "Database sessions are failing"),
}

VARIANT_NAMES = sorted(VARIANTS)
# A fault's own waits: the slow agent needs more than its 10 s budget to complete at all.
EXTRA = {"agent-slow": ["-D", "agent_timeout=15"]}


def then_steps() -> set[tuple[str, str]]:
    """(scenario, step) for every Then step (And/But after Then included) of the P1 features."""
    found, scenario, kind = set(), "", ""
    for feature in sorted((ROOT / "features").glob("*.feature")):
        if "@p1" not in feature.read_text().split("Feature:")[0].split():
            continue
        for line in feature.read_text().splitlines():
            text = line.strip()
            if text.startswith(("Scenario:", "Scenario Outline:")):
                scenario = text.split(":", 1)[1].strip().replace("<users>", "5")
            keyword, _, rest = text.partition(" ")
            if keyword in ("Given", "When", "Then"):
                kind = keyword
            if keyword in ("Given", "When", "Then", "And", "But") and kind == "Then":
                found.add((scenario, rest.replace("<budget>", "2")))
    return found


def selected(run) -> set[str]:
    """The scenarios the run selected (behave lists the others as skipped)."""
    return {name for name, element in run.scenarios.items() if element["status"] != "skipped"}


def failing_steps(run) -> dict[str, str]:
    """scenario -> the name of its failing step."""
    return {name: next(step["name"] for step in element["steps"]
                       if step.get("result", {}).get("status") in ("failed", "error"))
            for name, element in run.scenarios.items()
            if element["status"] in ("failed", "error")}


def results(report_dir: Path) -> dict:
    return json.loads((report_dir / "latest" / "results.json").read_text())


def test_table_covers_every_fault_scenario_and_then_step() -> None:
    assert set(DETECTS) | set(PROVEN_ELSEWHERE) == set(FAULTS)
    assert not set(DETECTS) & set(PROVEN_ELSEWHERE)
    # The load feature's Then steps are each made to fail by a fault in tests/test_load.py.
    load_proven = {step for row in LOAD_DETECTS.values() for step in row.items()}
    assert load_then_steps() - load_proven == set()
    assert set(LOAD_DETECTS) <= set(FAULTS)
    assert set().union(*(set(row) for row in DETECTS.values())) == ALL
    proven = {(scenario, step) for row in DETECTS.values() for scenario, step in row.items()}
    never_failing = then_steps() - proven
    assert never_failing == set(), f"Then steps that no fault makes fail: {sorted(never_failing)}"
    assert {scenario for scenario, _ in then_steps()} == ALL


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_clean_stand_in_passes_every_p1_scenario(tmp_path, variant: str) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", f"standin_variant={variant}", *FAST)
    assert selected(run) == ALL
    assert run.failing() == set(), run.stdout[-3000:]
    assert run.returncode == 0
    result = results(tmp_path / "reports")
    assert result["verdict"]["decision"] == "GO"
    assert result["facts"]["standin_variant"] == variant
    then_steps_run = [step for s in result["scenarios"] for step in s["steps"]
                      if step["step_type"] == "then" and s["priority"] == 1]
    assert len(then_steps_run) == len(then_steps())  # each one recorded, and none hollow:
    assert all(step["checks"] >= 1 for step in then_steps_run)


def _combinations(variants: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for variant in variants:
        for fault in sorted(DETECTS):
            try:
                check_combination(variant, [fault])
            except IncompatibleFaultError:
                continue
            pairs.append((variant, fault))
    return pairs


@pytest.mark.parametrize(("variant", "fault"), _combinations(VARIANT_NAMES))
def test_fault_fails_exactly_its_scenarios_at_the_named_step(tmp_path, variant: str,
                                                             fault: str) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", f"standin_fault={fault}",
                     "-D", f"standin_variant={variant}", *FAST, *EXTRA.get(fault, []))
    assert selected(run) == ALL
    assert failing_steps(run) == DETECTS[fault], run.stdout[-3000:]
    assert run.returncode != 0
    if fault in PLAIN_WORDS:
        scenario, finding, cause = PLAIN_WORDS[fault]
        result = results(tmp_path / "reports")
        found = {s["name"]: s for s in result["scenarios"]}[scenario]
        assert finding in found["key_finding"]
        assert found["classification"] == "product defect"
        assert cause in result["diagnosis"]["root_cause"]


def test_incompatible_variant_and_fault_end_in_one_sentence(tmp_path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", "standin_variant=handshake-403",
                     "-D", "standin_fault=refusal-without-close")
    assert run.returncode == 2
    line = run.stderr.strip().splitlines()[-1]
    assert "handshake-403" in line and "refusal-without-close" in line
    assert "Traceback" not in run.stderr


def test_unknown_variant_is_refused_with_the_list(tmp_path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", "standin_variant=gamma-9")
    assert run.returncode == 2
    assert re.search(r"unknown variant 'gamma-9'; known variants: .*handshake-403", run.stderr)


def test_seed_incident_stops_at_discovery_after_sessions_passed(tmp_path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "--stop", "-D", "standin_fault=missing-mcp-tables")
    sessions = {WELCOMED, NO_TOKEN, BAD_TOKEN, PING, MESSAGE, CONCURRENT}
    assert {name for name in sessions if run.status(name) == "passed"} == sessions
    assert run.status(DISCOVERY) == "failed"
    assert "GET http" in run.errors(DISCOVERY) and "/api/mcp/servers answered 500" in run.errors(DISCOVERY)
    assert all(run.scenarios.get(name, {}).get("status", "untested") in ("untested", "skipped")
               for name in ALL - sessions - {DISCOVERY})
    result = results(tmp_path / "reports")
    assert "missing table(s) `mcp_external_servers`" in result["diagnosis"]["root_cause"]


def test_the_build_of_the_seed_day_is_judged_as_its_code_behaves(tmp_path) -> None:
    """cc536e0b5 had three defects at once: the gate must fail exactly the scenarios that rely on
    them, for those reasons, and pass everything that worked (the contract's last section)."""
    defects = "messages-not-stored,threads-not-persisted,agent-silent-failure"
    run = run_behave(tmp_path, "--tags=@p1", "-D", f"standin_fault={defects}", *FAST)
    assert failing_steps(run) == {MESSAGE: CONTAINS, ORDER: IN_ORDER, PRIVACY: OWNER_READS,
                                  AGENT_RUN: EVENTS_IN_ORDER}
    result = results(tmp_path / "reports")
    findings = {s["name"]: s["key_finding"] for s in result["scenarios"]}
    assert findings[PRIVACY] == "conversation not stored: its own user gets 404"
    assert findings[AGENT_RUN].startswith("the agent run was silent")
    assert {s["classification"] for s in result["scenarios"] if s["status"] == "failed"} == {
        "product defect"}
    assert result["verdict"]["decision"] == "NO-GO"
