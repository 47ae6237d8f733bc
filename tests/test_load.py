"""The load tier: the P4 load scenarios drive Locust against the stand-in, pass when it is clean
(at -D load_scale=0.1), fail under their faults at the Then step that names what Locust
measured, and fail with the cause, never hang, when Locust is missing or cannot run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from behave.parser import parse_file

from stagecheck.catalog.proofs import load_proofs
from stagecheck.config.settings import load_settings
from stagecheck.errors import ConfigError, LoadRunFailed
from stagecheck.history.changes import compute_changes
from stagecheck.history.store import History
from stagecheck.load.plan import NOT_INSTALLED, LoadPlan, run_locust
from stagecheck.report.model import RunResult
from tests.behave_run import ROOT, run_behave

# Never imported here: importing Locust monkey-patches this process with gevent.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                                reason="the load tier needs Locust: pip install 'stagecheck[load]'")

FEATURE = ROOT / "features" / "load.feature"
SESSIONS = "200 signed-in users hold live sessions at the same time"
AGENTS = "200 signed-in users run agents at the same time"
# Waits long enough for the slowed frames to arrive (2.5 s each), so that the p95 is measured.
WAITS = ["-D", "load_scale=0.1", "-D", "ws_event_timeout=10", "-D", "agent_timeout=20"]

# fault -> {load scenario that must fail: the Then step at which it fails}, from the data the
# catalog shows (stagecheck/catalog/proofs.toml)
LOAD_DETECTS: dict[str, dict[str, str]] = load_proofs().load


def load_then_steps() -> set[tuple[str, str]]:
    """(scenario, step) for every Then step (And included) of the load feature, as behave
    expands its outlines."""
    found = set()
    for outline in parse_file(str(FEATURE)).scenarios:
        for scenario in getattr(outline, "scenarios", [outline]):
            for step in scenario.steps:
                if step.step_type == "then":
                    found.add((scenario.name.split(" -- @")[0], step.name))
    return found


def failing_steps(run) -> dict[str, str]:
    return {name: next(step["name"] for step in element["steps"]
                       if step.get("result", {}).get("status") in ("failed", "error"))
            for name, element in run.scenarios.items()
            if element["status"] in ("failed", "error")}


def results(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())


def test_the_load_feature_is_p4_and_the_p1_gate_does_not_run_it() -> None:
    feature = parse_file(str(FEATURE))
    tags = {str(tag) for tag in feature.tags}
    assert {"p4", "mrr:30k", "area:performance"} <= tags and "p1" not in tags
    assert any(tag.startswith("owner:") for tag in tags)
    assert load_then_steps() == {step for row in LOAD_DETECTS.values() for step in row.items()}


def test_clean_stand_in_passes_with_locusts_percentiles_as_evidence(tmp_path) -> None:
    run = run_behave(tmp_path, "--tags=@load", *WAITS, timeout=120)
    assert run.failing() == set(), run.stdout[-3000:]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = results(tmp_path)
    assert result["verdict"]["decision"] == "GO"
    # A tenth of the users the scenarios name: said in results.json, the verdict and the report.
    scaled = "load tier ran at 0.1 of its users and durations (-D load_scale=0.1)"
    assert result["facts"]["load_scale"] == 0.1
    assert json.loads((tmp_path / "reports" / "latest" / "verdict.json").read_text())[
        "load_scale"] == 0.1
    assert scaled in run.stdout.strip().splitlines()[-1]
    latest = tmp_path / "reports" / "latest"
    assert scaled in (latest / "report.md").read_text()
    assert scaled in (latest / "report.html").read_text()
    load = {s["name"]: s for s in result["scenarios"] if s["priority"] == 4}
    assert set(load) == {SESSIONS, AGENTS} and all(s["status"] == "passed" for s in load.values())
    rows = {e["action"]: e for e in load[SESSIONS]["exchanges"] if e["channel"] == "load"}
    assert {"locust sign in", "locust welcome", "locust pong", "locust session held"} <= set(rows)
    welcome = rows["locust welcome"]["response"]
    assert welcome.startswith("welcome: 20 samples, p50 ") and " p95 " in welcome
    assert "p95 welcome time" in load[SESSIONS]["key_finding"]
    assert "p95 agent run" in load[AGENTS]["key_finding"]
    assert load[SESSIONS]["measures"]["welcome p95"] == rows["locust welcome"]["elapsed_s"]
    assert run.elapsed_s < 60
    _history_notices_a_markedly_slower_p95(tmp_path)


def _history_notices_a_markedly_slower_p95(tmp_path: Path) -> None:
    """The history keeps the percentiles: the same run again with its welcome p95 four times
    higher (and 0.5 s more) is markedly slower; its durations alone are not."""
    text = (tmp_path / "reports" / "latest" / "results.json").read_text()
    history = History(tmp_path / "measures.sqlite")
    history.finish(RunResult.from_json(text), "local")
    again = RunResult.from_json(text)
    again.facts.run_id, again.facts.started_at = "again", "9999-01-01T00:00:00+00:00"
    history.finish(again, "local")
    assert compute_changes(again, history, "local").slower == []
    sessions = next(s for s in again.scenarios if s.name == SESSIONS)
    usual = sessions.measures["welcome p95"]
    sessions.measures["welcome p95"] = usual * 4 + 0.5
    slower = compute_changes(again, history, "local").slower
    history.close()
    assert [(s.name, s.usual_s) for s in slower] == [(f"{SESSIONS} (welcome p95)", round(usual, 3))]


@pytest.mark.parametrize("fault", sorted(LOAD_DETECTS))
def test_each_fault_fails_the_load_scenarios_at_the_named_step(tmp_path, fault: str) -> None:
    run = run_behave(tmp_path, "--tags=@load", "-D", f"standin_fault={fault}", *WAITS, timeout=120)
    assert failing_steps(run) == LOAD_DETECTS[fault], run.stdout[-3000:]
    assert run.returncode == 3  # AT RISK: only P4 failed
    if fault == "slow-under-load":
        assert "Locust measured p95 5." in run.errors(SESSIONS)  # welcome and validation, late
        assert "Locust measured p95 1" in run.errors(AGENTS)    # six frames 2.5 s late: 15 s
        finding = {s["name"]: s for s in results(tmp_path)["scenarios"]}[SESSIONS]["key_finding"]
        assert finding.startswith("p95 welcome time 5.") and "budget 1 s" in finding


def test_locust_missing_is_the_gates_own_defect_with_the_cause_and_no_revenue_at_risk(
        tmp_path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True,
                   timeout=60)
    run = run_behave(tmp_path, "--tags=@load", "-n", "hold live sessions", "-D", "load_scale=0.1",
                     "-D", f"load_python={bare / 'bin' / 'python'}", timeout=60)
    assert failing_steps(run) == {SESSIONS: "they hold live sessions for 60 seconds"}
    assert NOT_INSTALLED in run.errors(SESSIONS)
    assert run.elapsed_s < 30
    data = results(tmp_path)
    scenario = {s["name"]: s for s in data["scenarios"]}[SESSIONS]
    assert scenario["status"] == "not judged" and scenario["classification"] == "test defect"
    assert data["impact"]["revenue_at_risk"] == 0 and data["verdict"]["decision"] == "AT RISK"
    assert run.returncode == 3 and "(not judged, for the gate's own defect)" in data["verdict"]["reason"]


def test_locust_that_cannot_start_or_overruns_is_stopped_with_the_cause(tmp_path) -> None:
    plan = LoadPlan(2, 2, 1, "LiveSessionUser")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('this locustfile is broken')\n")
    with pytest.raises(LoadRunFailed, match=r"Locust failed to run 2 users .* \(exit \d+\): .*"
                                            r"RuntimeError: this locustfile is broken"):
        run_locust(plan, host="http://127.0.0.1:9", env={}, python=sys.executable,
                   locustfile=broken)
    hanging = tmp_path / "hanging.py"
    hanging.write_text("import time\ntime.sleep(120)\n")
    started = time.monotonic()
    with pytest.raises(LoadRunFailed, match=r"within its 3 s deadline and was stopped"):
        run_locust(plan, host="http://127.0.0.1:9", env={}, python=sys.executable,
                   locustfile=hanging, deadline_s=3)
    assert time.monotonic() - started < 15


def test_scaled_plans_keep_at_least_one_user_and_second() -> None:
    assert LoadPlan.scaled(200, 50, 60, "AgentUser", 0.1) == LoadPlan(20, 20, 6, "AgentUser")
    assert LoadPlan.scaled(200, 50, 60, "AgentUser", 1) == LoadPlan(200, 50, 60, "AgentUser")
    assert LoadPlan.scaled(3, 1, 5, "AgentUser", 0.01) == LoadPlan(1, 1, 1, "AgentUser")


@pytest.mark.parametrize(("userdata", "words"), [
    ({"load_scale": "0"}, "load_scale must be more than 0"),
    ({"load_scale": "a tenth"}, "load_scale must be a number"),
    ({"load_workers": "-1"}, "load_workers must be 0 or more"),
    ({"load_python": "/no/such/python"}, "load_python names no file"),
    ({"partial": "true", "shard": "1/2"}, "partial and shard cannot combine"),
])
def test_bad_load_settings_are_refused_in_one_sentence(userdata, words) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(userdata, {})


def test_load_settings_and_behavex_worker_id_are_accepted() -> None:
    settings = load_settings({"load_scale": "0.1", "load_workers": "2", "worker_id": "3"}, {})
    assert (settings.load_scale, settings.load_workers, settings.partial) == (0.1, 2, False)
    assert load_settings({"partial": "true"}, {}).partial
