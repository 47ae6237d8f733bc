"""Run history, what changed, and the deploy loop, against the stand-in for real."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stagecheck.cli.loop import DeployLoop, Iteration, LoopOptions, LoopSummary
from stagecheck.vocabulary import Decision, ExitCode, LoopEnd
from standin import start_standin
from tests.behave_run import ROOT, run_behave, wait_until_running

DISCOVERY = "A user discovers the available agent servers"
AGENT_RUN = "A user's request streams its progress and completes"
PRIVACY = "A user cannot see another user's conversation"


@pytest.fixture
def staging_standin(monkeypatch):
    with start_standin(faults=["missing-mcp-tables"]) as standin:
        monkeypatch.setenv("E2E_OAUTH_SIMULATION_KEY", standin.bypass_key)
        yield standin


def behave_args(standin, reports: Path) -> list[str]:
    return ["--tags=@p1", "-f", "null", "-D", "target=staging",
            "-D", f"base_url={standin.urls.backend_url}", "-D", f"report_dir={reports}",
            "-D", "allow_destructive=true"]


def test_fault_switched_off_between_runs_is_fixed_after_two_runs(tmp_path, staging_standin) -> None:
    said: list[str] = []

    def deploy_fix(iteration: Iteration) -> None:
        if iteration.number == 1:
            staging_standin.set_faults([])

    loop = DeployLoop(LoopOptions(behave_args(staging_standin, tmp_path), until_green=True,
                                  max_runs=5, interval_s=0.1), said.append, deploy_fix)
    summary = loop.run()
    assert summary.outcome == "fixed after 2 runs" and summary.green
    assert [i.verdict for i in summary.iterations] == ["NO-GO", "GO"]
    assert set(summary.iterations[1].fixed) == {DISCOVERY, AGENT_RUN}
    assert summary.time_to_green_s is not None and summary.exit_code == 0
    assert "fixed after 2 runs" in summary.path.read_text()
    assert any(line.startswith("loop: run 1 done (NO-GO); next check in") for line in said)


def test_a_run_the_gate_cannot_judge_stops_the_loop_at_once_with_exit_2(
        tmp_path, staging_standin, monkeypatch) -> None:
    monkeypatch.setenv("E2E_OAUTH_SIMULATION_KEY", "not-the-key-of-this-platform-0001")
    said: list[str] = []
    loop = DeployLoop(LoopOptions(behave_args(staging_standin, tmp_path), until_green=True,
                                  max_runs=5, interval_s=0.1), said.append)
    summary = loop.run()
    assert len(summary.iterations) == 1 and summary.exit_code == 2  # not five runs, not exit 1
    assert summary.outcome.startswith("stopped: the gate could not judge")


def test_a_selection_that_matches_nothing_stops_the_loop_at_once_with_exit_2(tmp_path) -> None:
    """A tag nothing carries is the operator's mistake: another run would make it again."""
    options = LoopOptions(["--tags=@nosuchtag", "-f", "null", "-D", f"report_dir={tmp_path}"],
                          until_green=True, max_runs=3, interval_s=0.1)
    summary = DeployLoop(options, lambda _: None).run()
    assert len(summary.iterations) == 1 and summary.iterations[0].exit_code == 2
    assert summary.end == LoopEnd.NOT_JUDGED and summary.exit_code == 2


def test_a_run_behave_itself_refuses_stops_the_loop_at_once_with_exit_2(tmp_path) -> None:
    """behave refuses a path with no steps folder before any report (its exit 1): another run
    would be refused again, and no report is not a NO-GO."""
    options = LoopOptions(["no-such-features-folder", "-f", "null", "-D", f"report_dir={tmp_path}"],
                          until_green=True, max_runs=3, interval_s=0.1)
    summary = DeployLoop(options, lambda _: None).run()
    assert [(i.verdict, i.exit_code) for i in summary.iterations] == [("NO REPORT", 1)]
    assert summary.end == LoopEnd.NOT_JUDGED and summary.exit_code == 2


def test_a_tag_expression_that_does_not_parse_is_refused_before_any_run(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "stagecheck", "loop", "--max-runs", "3",
                           "--tags=@p1 and", "-D", f"report_dir={tmp_path}"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "stagecheck loop: the tag expression does not parse (Syntax error. Expected operand "
        "after and); nothing was run"]
    assert list(tmp_path.iterdir()) == []


def test_only_a_run_the_environment_kept_from_judging_is_tried_again() -> None:
    """The environment may recover (another run can help); a last run not judged is exit 2."""
    def iteration(number: int, environment_only: bool) -> Iteration:
        return Iteration(number, f"r{number}", Decision.NOT_JUDGED, 0.0, "", 1.0,
                         ExitCode.NOT_JUDGED, environment_only=environment_only)

    assert not iteration(1, environment_only=True).refused
    assert iteration(1, environment_only=False).refused
    # No report: behave's own refusal (1) stops the loop; a run killed by a signal does not.
    assert Iteration(1, "", "NO REPORT", 0.0, "", 1.0, 1).refused
    assert not Iteration(1, "", "NO REPORT", 0.0, "", 1.0, -9).refused
    down = LoopSummary([iteration(1, True), iteration(2, True)], "stopped after 2 runs", False,
                       None, end=LoopEnd.MAX_RUNS)
    assert down.exit_code == 2  # not 1: nothing was found wrong with the product


def test_intermittent_fault_is_reported_flaky(tmp_path, staging_standin) -> None:
    def flip(iteration: Iteration) -> None:
        staging_standin.set_faults([] if iteration.number % 2 else ["missing-mcp-tables"])

    summary = DeployLoop(LoopOptions(behave_args(staging_standin, tmp_path), max_runs=3,
                                     interval_s=0.1), lambda _: None, flip).run()
    assert [i.verdict for i in summary.iterations] == ["NO-GO", "GO", "NO-GO"]
    changes = json.loads((tmp_path / "latest" / "results.json").read_text())["changes"]
    assert {f["name"] for f in changes["flaky"]} == {DISCOVERY, AGENT_RUN}
    assert set(changes["newly_failing"]) == {DISCOVERY, AGENT_RUN}
    assert len(changes["trend"]) == 3
    assert 'id="trend"' in (tmp_path / "latest" / "report.html").read_text()
    assert summary.exit_code == 1


def test_new_version_triggers_a_run_on_new_deploy(tmp_path, staging_standin) -> None:
    staging_standin.set_faults([])
    said: list[str] = []

    def deploy_later(iteration: Iteration) -> None:
        threading.Timer(1.0, staging_standin.set_version, ["1.0.1"]).start()

    summary = DeployLoop(LoopOptions(behave_args(staging_standin, tmp_path), max_runs=2,
                                     interval_s=0.2, on_new_deploy=True, max_time_s=120),
                         said.append, deploy_later).run()
    assert [i.version for i in summary.iterations] == ["1.0.0", "1.0.1"]
    assert any("waiting for a new deploy (health reports version 1.0.0, already tested" in line
               for line in said)
    assert said.count("loop: new deploy, health reports version 1.0.1") == 1


def test_waiting_for_a_deploy_is_bounded_by_the_time_limit(tmp_path, staging_standin) -> None:
    staging_standin.set_faults([])
    started = time.monotonic()
    summary = DeployLoop(LoopOptions(behave_args(staging_standin, tmp_path), max_runs=5,
                                     interval_s=0.5, on_new_deploy=True, max_time_s=15),
                         lambda _: None).run()
    # Room for the first run on a loaded machine; then the wait for a deploy meets the limit.
    assert summary.outcome == "time limit reached while waiting for a new deploy"
    assert len(summary.iterations) == 1 and time.monotonic() - started < 25


def test_ctrl_c_ends_the_loop_with_its_summary(tmp_path, staging_standin) -> None:
    staging_standin.set_faults([])
    proc = subprocess.Popen([sys.executable, "-m", "stagecheck", "loop", "--on-new-deploy",
                             "--interval", "0.5", *behave_args(staging_standin, tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "waiting for a new deploy" in line:
                break
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "**Outcome:** interrupted" in output and "summary written to" in output
    assert list(tmp_path.glob("loop-*.md"))


def test_still_failing_says_since_when_and_for_how_many_runs(tmp_path: Path) -> None:
    for _ in range(3):
        run_behave(tmp_path, "--tags=@p1", "-D", "standin_fault=thread-leak",
                   "-D", f"report_dir={tmp_path / 'reports'}")
    data = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    (still,) = data["changes"]["still_failing"]
    assert still["name"] == PRIVACY and still["runs"] == 3
    first = sorted(p.name for p in (tmp_path / "reports").iterdir() if p.name[:2] == "20")[0]
    assert still["since_run_id"] == first
    assert "for 3 runs, since" in (tmp_path / "reports" / "latest" / "report.md").read_text()


def _history(tmp_path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(tmp_path / "reports" / "history.sqlite"))


def test_history_survives_a_crash_mid_run_and_marks_it_interrupted(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "behave", "--tags=@p1", "--name", "reports itself up",
            "-f", "null", "-D", "health_timeout=60", "-D", f"report_dir={tmp_path / 'reports'}"]
    proc = subprocess.Popen([*args, "-D", "standin_fault=hang"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until_running(tmp_path / "reports" / "history.sqlite")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    with _history(tmp_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (crashed,) = db.execute("SELECT run_id FROM runs WHERE state='running'").fetchone()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, timeout=120)
    with _history(tmp_path) as db:
        states = dict(db.execute("SELECT run_id, state FROM runs").fetchall())
    assert states.pop(crashed) == "interrupted"
    assert list(states.values()) == ["finished"]


def test_history_path_is_a_setting_and_a_broken_one_costs_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    run = run_behave(tmp_path, "--tags=@p1", "--name", "reports itself up",
                     "-D", f"history={blocker / 'h.sqlite'}", "-D", f"report_dir={tmp_path / 'r'}")
    assert run.returncode == 0
    assert "stagecheck: no run history this time:" in run.stderr
    assert json.loads((tmp_path / "r" / "latest" / "results.json").read_text())["changes"] is None
    ok = run_behave(tmp_path, "--tags=@p1", "--name", "reports itself up",
                    "-D", f"history={tmp_path / 'elsewhere.sqlite'}", "-D", f"report_dir={tmp_path / 'r2'}")
    assert ok.returncode == 0 and (tmp_path / "elsewhere.sqlite").exists()
