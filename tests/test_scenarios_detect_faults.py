"""Every check can fail: each stand-in fault fails exactly the scenarios that depend on the clause
it breaks, each at the step named here, on every variant of the platform; and every Then step
of every scenario is the failing step under at least one fault. The tables are data
(stagecheck/catalog/proofs.toml), which the catalog shows too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from behave.parser import parse_file

from stagecheck.catalog.proofs import load_proofs
from standin import FAULTS, VARIANTS, IncompatibleFaultError, check_combination
from tests.behave_run import FAST, ROOT, run_behave
from tests.test_load import AGENTS, LOAD_DETECTS, SESSIONS, load_then_steps

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
LOCKOUT = "A user who opens many sessions in a short time is still let in"
ALL = {WELCOMED, NO_TOKEN, BAD_TOKEN, PING, MESSAGE, CONCURRENT, DISCOVERY, SIGN_IN, WRONG_KEY,
       HEALTH, DATABASE, AGENT_RUN, ORDER, PRIVACY, LOCKOUT}

# The steps named in the tests below, by the words of the feature files.
CONTAINS = 'the conversation contains the message "Hello from the release gate"'
EVENTS_IN_ORDER = "the user sees the progress events in this order:"
IN_ORDER = "the conversation lists the messages in the order they were sent"
OWNER_READS = "the first user is shown the conversation"

# The detection tables, read from the data the catalog shows (stagecheck/catalog/proofs.toml):
# fault -> {scenario that must fail: the step at which it must fail}; every other scenario passes.
PROOFS = load_proofs()
DETECTS = PROOFS.p1            # run with the whole P1 gate
TIER_DETECTS = PROOFS.tiers    # run with the P2-P6 tiers of their scenarios
DEGRADES = PROOFS.degrades     # degraded, not failed
# Faults of clauses no scenario of DETECTS or TIER_DETECTS depends on, proven by the tests named
# there instead.
PROVEN_ELSEWHERE = PROOFS.elsewhere
LOAD = {SESSIONS, AGENTS}  # the load feature's scenarios: LOAD_DETECTS in tests/test_load.py

# The four real defects of the platform at cc536e0b5: the report must name each in plain words.
PLAIN_WORDS = {
    "messages-not-stored": (MESSAGE, "acknowledged but not stored", "Product defect"),
    "threads-not-persisted": (PRIVACY, "conversation not stored", "Product defect"),
    "agent-silent-failure": (AGENT_RUN, "the agent run was silent: no event within",
                             "Product defect"),
    "db-sessions-broken": (DISCOVERY, "500 Internal Server Error on GET /api/mcp/servers",
                           "Database sessions are failing"),
}

# The P2-P6 scenarios, by name.
EXPIRED_API = "An expired token is refused by the platform's API"
EXPIRED_SESSION = "A live session with an expired token is refused"
FOREIGN_KEY = "A token signed with another key is refused by the platform's API"
REFRESH = "A token meant only to renew a sign-in is not accepted in place of an access token"
TEST_HEADER = "A forged token is refused even from a caller posing as the platform's own tests"
SIGNED_OUT = "A token that was signed out no longer works"
ANONYMOUS = "The conversation endpoints refuse callers who are not signed in"
WRITE_LEAK = "A user cannot write into another user's conversation"
RUN_FAILS = "A run that cannot be carried out tells the user it failed"
TWO_RUNS = "Two users' runs at the same time each reach only their own user"
FOLLOW_UP = "A follow-up request in the same conversation completes"
API_GENERAL = "The general agent answers a request sent over the API"
API_TRIAGE = "The triage agent answers a request sent over the API"
HEALTH_FAST = "The backend's health answers stay fast"
WELCOME_FAST = "New live sessions are welcomed fast"
PONG_FAST = "A live session answers pings fast"
FIRST_EVENT_FAST = "An agent shows its first sign of life fast"
RECONNECT = "Messages survive a reconnect"
ACCENTS = "A message in accented and non-Latin text comes back exactly as it was written"
EMOJI = "A message in emoji comes back exactly as it was written"
TEN_KB = "A 10 KB message comes back whole"
ONCE = "A conversation lists every message once, in order"
LISTED = "A new conversation appears in the user's list"
VERSION = "The backend names the build it runs"
READY = "The backend says it is ready for traffic"
SERVICES = "Service discovery says where the platform's services are"
DEPENDENCIES = "The detailed health names each dependency with its status"
TIERS = {EXPIRED_API: 2, EXPIRED_SESSION: 2, FOREIGN_KEY: 2, REFRESH: 2, TEST_HEADER: 2,
         SIGNED_OUT: 2, ANONYMOUS: 2, WRITE_LEAK: 2, RUN_FAILS: 3, TWO_RUNS: 3, FOLLOW_UP: 3,
         API_GENERAL: 3, API_TRIAGE: 3, HEALTH_FAST: 4, WELCOME_FAST: 4, PONG_FAST: 4,
         FIRST_EVENT_FAST: 4, RECONNECT: 5, ACCENTS: 5, EMOJI: 5, TEN_KB: 5, ONCE: 5, LISTED: 5,
         VERSION: 6, READY: 6, SERVICES: 6, DEPENDENCIES: 6}

TIER_VARIANTS = ["default", "handshake-403"]

VARIANT_NAMES = sorted(VARIANTS)
# A fault's own waits: the slow agent needs more than its 10 s budget to complete at all.
EXTRA = {"agent-slow": ["-D", "agent_timeout=15"],
         "ws-no-welcome": ["-D", "ws_event_timeout=2"]}  # each session waits out its welcome


def then_steps(tier: str = "") -> set[tuple[str, str]]:
    """(scenario, step) for every Then step (And/But after Then included) of the features, or of
    those tagged `tier`; outlines expanded by behave's own parser."""
    found = set()
    for path in sorted((ROOT / "features").glob("*.feature")):
        feature = parse_file(str(path))
        if tier and tier not in feature.tags:
            continue
        for scenario in feature.walk_scenarios():
            name = scenario.name.split(" -- @")[0]
            found |= {(name, step.name) for step in scenario.steps if step.step_type == "then"}
    return found


def failing_steps(run) -> dict[str, str]:
    """scenario -> the name of its failing step."""
    return {name: next(step["name"] for step in element["steps"]
                       if step.get("result", {}).get("status") in ("failed", "error"))
            for name, element in run.scenarios.items()
            if element["status"] in ("failed", "error")}


def ran(run) -> set[str]:
    """The scenarios the run selected and ran: behave's JSON also lists the others, skipped."""
    return {name for name, element in run.scenarios.items() if element["status"] != "skipped"}


def results(report_dir: Path) -> dict:
    return json.loads((report_dir / "latest" / "results.json").read_text())


def test_table_covers_every_fault_scenario_and_then_step() -> None:
    assert set(DETECTS) | set(TIER_DETECTS) | set(PROVEN_ELSEWHERE) == set(FAULTS)
    assert not set(DETECTS) & set(TIER_DETECTS)
    assert not (set(DETECTS) | set(TIER_DETECTS)) & set(PROVEN_ELSEWHERE)
    assert set(LOAD_DETECTS) <= set(FAULTS)
    assert set().union(*(set(row) for row in DETECTS.values())) == ALL
    assert set().union(*(set(row) for row in TIER_DETECTS.values())) == set(TIERS)
    # P1 by DETECTS, P2-P6 by TIER_DETECTS, the load feature by tests/test_load.py.
    load = load_then_steps()
    tiers = then_steps() - then_steps("p1") - load
    for table, steps in ((DETECTS, then_steps("p1")), (TIER_DETECTS, tiers), (LOAD_DETECTS, load)):
        proven = {(scenario, step) for row in table.values() for scenario, step in row.items()}
        never_failing = steps - proven
        assert never_failing == set(), f"Then steps that no fault makes fail: {sorted(never_failing)}"
    assert {scenario for scenario, _ in then_steps("p1")} == ALL
    assert {scenario for scenario, _ in then_steps()} == ALL | set(TIERS) | LOAD
    # Over the hard budget fails the four latencies that over the soft budget only degrades.
    assert {"latency-over-soft-budget": set(TIER_DETECTS["latency-over-hard-budget"])} == DEGRADES
    assert TIER_DETECTS["latency-over-soft-budget"] == {}
    # Every step the data names is a step of that scenario, in the feature files' own words.
    steps = {(s.name.split(" -- @")[0], step.name) for path in (ROOT / "features").glob("*.feature")
             for s in parse_file(str(path)).walk_scenarios() for step in s.steps}
    assert PROOFS.proven_steps() - steps == set()
    for tier in range(2, 7):  # every tier has at least four scenarios
        assert sum(level == tier for level in TIERS.values()) >= 4, tier


def _tier_tags(fault: str) -> str:
    """The tiers the fault's scenarios belong to, as one tag expression."""
    scenarios = set(TIER_DETECTS[fault]) | DEGRADES.get(fault, set())
    tiers = " or ".join(f"@p{tier}" for tier in sorted({TIERS[name] for name in scenarios}))
    return f"({tiers}) and not @load"  # the load tier: tests/test_load.py


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_clean_stand_in_passes_the_whole_gate(tmp_path, variant: str) -> None:
    # Plain behave is the functional gate: the load tier runs only when --tags asks for it.
    run = run_behave(tmp_path, "-D", f"standin_variant={variant}", *FAST)
    assert ran(run) == ALL | set(TIERS)
    assert run.failing() == set(), run.stdout[-3000:]
    assert run.returncode == 0
    result = results(tmp_path / "reports")
    assert result["verdict"]["decision"] == "GO"
    assert result["facts"]["tag_expression"] == "" and result["facts"]["load_scale"] is None
    assert {s["status"] for s in result["scenarios"]} == {"passed"}
    then_steps_run = [step for s in result["scenarios"] for step in s["steps"]
                      if step["step_type"] == "then"]
    assert len(then_steps_run) == len(then_steps()) - len(then_steps("load"))
    assert all(step["checks"] >= 1 for step in then_steps_run)


@pytest.mark.parametrize(("variant", "fault"), [(variant, fault) for variant in TIER_VARIANTS
                                                for fault in sorted(TIER_DETECTS)])
def test_tier_fault_fails_exactly_its_scenarios_at_the_named_step(tmp_path, variant: str,
                                                                  fault: str) -> None:
    tags = _tier_tags(fault)
    run = run_behave(tmp_path, f"--tags={tags}", "-D", f"standin_fault={fault}",
                     "-D", f"standin_variant={variant}", *FAST)
    in_tiers = {name for name, tier in TIERS.items() if f"@p{tier}" in tags}
    assert ran(run) == in_tiers
    assert failing_steps(run) == TIER_DETECTS[fault], run.stdout[-3000:]
    result = results(tmp_path / "reports")
    degraded = {s["name"] for s in result["scenarios"] if s["status"] == "degraded"}
    assert degraded == DEGRADES.get(fault, set())
    assert result["verdict"]["decision"] == ("NO-GO" if "@p2" in tags else "AT RISK")


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_clean_stand_in_passes_every_p1_scenario(tmp_path, variant: str) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", f"standin_variant={variant}", *FAST)
    assert ran(run) == ALL
    assert run.failing() == set(), run.stdout[-3000:]
    assert run.returncode == 0
    result = results(tmp_path / "reports")
    assert result["verdict"]["decision"] == "GO"
    assert result["facts"]["standin_variant"] == variant
    then_steps_run = [step for s in result["scenarios"] for step in s["steps"]
                      if step["step_type"] == "then"]
    assert len(then_steps_run) == len(then_steps("p1"))  # each one recorded, and none hollow:
    assert all(step["checks"] >= 1 for step in then_steps_run)


# Faults whose effect no variant changes, run under the tiers' two variants only: the delay is
# the same whatever the welcome's shape, and the shape itself is proven by ws-no-welcome in every
# variant. (slow-responses waits out its delay in a dozen scenarios: 41 s a variant.)
SAME_IN_EVERY_VARIANT = {"slow-responses"}


def _combinations(variants: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for variant in variants:
        for fault in sorted(DETECTS):
            if fault in SAME_IN_EVERY_VARIANT and variant not in TIER_VARIANTS:
                continue
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
    assert ran(run) == ALL
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
    sessions = {WELCOMED, LOCKOUT, NO_TOKEN, BAD_TOKEN, PING, MESSAGE, CONCURRENT}
    assert {name for name in sessions if run.status(name) == "passed"} == sessions
    assert run.status(DISCOVERY) == "failed"
    assert "GET http" in run.errors(DISCOVERY) and "/api/mcp/servers answered 500" in run.errors(DISCOVERY)
    assert all(run.scenarios.get(name, {}).get("status", "untested") in ("untested", "skipped")
               for name in ALL - sessions - {DISCOVERY})
    result = results(tmp_path / "reports")
    assert "missing tables `mcp_external_servers`" in result["diagnosis"]["root_cause"]


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
