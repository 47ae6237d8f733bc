"""Root cause and evidence, from the result model alone: missing tables, a database that is down
and database sessions failing are told apart; our own close code is never evidence; a passing
Then step that checked nothing is shown as hollow."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stagecheck.client.exchanges import OWN_CLOSE, TARGET_CLOSE
from stagecheck.report.diagnosis import diagnose, findings
from stagecheck.report.evidence import failing_database_routes, failing_exchange
from stagecheck.report.impact import decide, roll_up
from stagecheck.report.model import (
    RESULTS_SCHEMA_VERSION,
    HealthProbe,
    RunFacts,
    RunResult,
    ScenarioResult,
    SchemaProbe,
    StepResult,
)
from stagecheck.report.render import render
from stagecheck.report.view import report_view
from stagecheck.vocabulary import Classification, Finding

BACKEND = "http://127.0.0.1:8000"
HEALTHY = HealthProbe(f"{BACKEND}/health", 200, 0.01, '{"status": "healthy"}', True)
COMPLETE = SchemaProbe("sqlite:///x.db", True, [], "66e0e5d9662d", "66e0e5d9662d", 0)
MISSING = SchemaProbe("sqlite:///x.db", True, ["mcp_external_servers"], "9f3c1a2b7d10",
                      "66e0e5d9662d", 1)


def exchange(action: str, path: str, status: int | None, channel: str = "http",
             error: str = "") -> dict:
    scheme = "http" if channel == "http" else "ws"
    return {"channel": channel, "action": action, "url": f"{scheme}://127.0.0.1:8000{path}",
            "status": status, "elapsed_s": 0.01, "request": "", "response": "", "error": error,
            "at": 0.0}


def failed(name: str, *exchanges: dict, classification=Classification.PRODUCT) -> ScenarioResult:
    return ScenarioResult(name=name, feature="f", location="f.feature:1", tags=[], priority=1,
                          revenue=120_000, area="chat", status="failed", duration_s=0.1,
                          exchanges=list(exchanges), classification=classification)


def run_result(scenarios: list[ScenarioResult]) -> RunResult:
    facts = RunFacts("r1", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:05+00:00", 5.0, "local",
                     BACKEND, BACKEND, "ws://127.0.0.1:8000/ws", "1.0.0", "@p1", False, False, [],
                     False, {"python": "3", "stagecheck": "0", "behave": "1.3"})
    return RunResult(RESULTS_SCHEMA_VERSION, facts, scenarios, roll_up(scenarios), decide(scenarios),
                     diagnose(scenarios, HEALTHY, None, {"rerun": "behave"}))


SESSIONS_FAILING = [
    failed("discovery", exchange("GET", "/api/mcp/servers", 500)),
    failed("conversation", exchange("POST", "/api/threads", 500)),
]


def test_server_errors_on_database_routes_with_a_complete_schema_are_failing_sessions() -> None:
    assert failing_database_routes(SESSIONS_FAILING) == ["GET /api/mcp/servers", "POST /api/threads"]
    keys = findings(SESSIONS_FAILING, HEALTHY, COMPLETE)
    assert keys == [Finding.DATABASE_SESSIONS]  # it explains the product failures: no generic step
    diagnosis = diagnose(SESSIONS_FAILING, HEALTHY, COMPLETE, {"rerun": "behave --tags=@p1"})
    assert diagnosis.root_cause.startswith("Database sessions are failing: 2 database-backed routes")
    assert "the schema is complete" in diagnosis.root_cause
    assert diagnosis.next_steps[0].title == "Fix the backend's database sessions"
    assert "`GET /api/mcp/servers`" in diagnosis.next_steps[0].because
    assert not any("alembic upgrade" in action for action in diagnosis.next_steps[0].actions)


def test_the_same_errors_with_tables_missing_are_the_migration_not_applied() -> None:
    keys = findings(SESSIONS_FAILING, HEALTHY, MISSING)
    assert keys == [Finding.SCHEMA_MISSING_TABLES]
    diagnosis = diagnose(SESSIONS_FAILING, HEALTHY, MISSING, {"rerun": "behave --tags=@p1"})
    assert "missing table `mcp_external_servers`" in diagnosis.root_cause
    assert any("alembic upgrade head" in action for action in diagnosis.next_steps[0].actions)


def test_a_detailed_health_answering_503_is_a_database_down_not_failing_sessions() -> None:
    down = [*SESSIONS_FAILING, failed("health", exchange("GET", "/api/health", 503))]
    assert findings(down, HEALTHY, COMPLETE)[0] == Finding.DATABASE_DOWN
    assert diagnose(down, HEALTHY, COMPLETE, {}).root_cause.startswith(
        "The backend reports its database unreachable")


def test_one_server_error_alone_is_a_product_defect() -> None:
    one = SESSIONS_FAILING[:1]
    assert findings(one, HEALTHY, COMPLETE) == [Classification.PRODUCT]


def test_our_own_close_is_never_the_evidence() -> None:
    scenario = failed("silent", exchange("connect", "/ws", 101, "ws"),
                      exchange("send start_agent", "/ws", None, "ws"),
                      exchange(OWN_CLOSE, "/ws", None, "ws"))
    assert failing_exchange(scenario)["action"] == "send start_agent"
    closed = failed("dropped", exchange("connect", "/ws", 101, "ws"),
                    exchange(TARGET_CLOSE, "/ws", 1011, "ws"))
    assert failing_exchange(closed)["status"] == 1011


def test_a_passing_then_step_without_a_check_is_shown_as_hollow() -> None:
    steps = [StepResult("Given", "a signed-in user", "passed", 0.01, step_type="given", checks=0),
             StepResult("Then", "all is well", "passed", 0.01, step_type="then", checks=0),
             StepResult("And", "it checked", "passed", 0.01, step_type="then", checks=2)]
    scenario = ScenarioResult(name="hollow one", feature="f", location="f.feature:1", tags=[],
                              priority=1, revenue=120_000, area="chat", status="passed",
                              duration_s=0.1, steps=steps, exchanges=[exchange("GET", "/x", 200)])
    assert [step.name for step in steps if step.checked_nothing] == ["all is well"]
    result = run_result([scenario])
    assert report_view(result)["hollow_steps"] == [(scenario, steps[1])]
    assert "“Then all is well” in “hollow one”" in render(result, "md")


@pytest.mark.parametrize(("database", "query", "foreign"), [
    ("sqlite:////tmp/standin.db", "FROM sqlite_master WHERE type = 'table'", "information_schema"),
    ("postgresql+psycopg://gate:***@db/platform", "table_schema = current_schema()", "sqlite_master"),
    ("mysql+pymysql://gate:***@db/platform", "table_schema = DATABASE()", "sqlite_master"),
])
def test_the_confirm_query_fits_the_dialect_of_the_probed_database(database, query, foreign) -> None:
    diagnosis = diagnose(SESSIONS_FAILING, HEALTHY, replace(MISSING, database=database), {})
    confirm = next(a for a in diagnosis.next_steps[0].actions if a.startswith("Confirm the tables"))
    assert query in confirm and "IN ('mcp_external_servers')" in confirm
    assert foreign not in confirm


def test_a_database_of_an_unknown_dialect_gets_no_sql_it_may_not_speak() -> None:
    diagnosis = diagnose(SESSIONS_FAILING, HEALTHY, replace(MISSING, database="nonsense"), {})
    confirm = next(a for a in diagnosis.next_steps[0].actions if a.startswith("Confirm the tables"))
    assert "SELECT" not in confirm and "'mcp_external_servers'" in confirm
    assert "1 revision short of head" in diagnosis.root_cause
