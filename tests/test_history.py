"""The run history: what changed computed in SQL agrees with the plain reading of the past runs,
and runs at the same time on one history neither mislabel nor lose each other."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

from stagecheck.history import schema as store
from stagecheck.history.changes import FLAKY_WINDOW, SLOWER_FACTOR, SLOWER_MIN_S, TREND_RUNS, compute_changes
from stagecheck.history.store import History
from stagecheck.report.diagnosis import diagnose
from stagecheck.report.impact import decide, roll_up
from stagecheck.report.model import (
    RESULTS_SCHEMA_VERSION,
    Changes,
    Flaky,
    RunFacts,
    RunResult,
    SameVersion,
    ScenarioResult,
    Slower,
    StillFailing,
    Verification,
    scenario_key,
)
from stagecheck.report.render import render
from stagecheck.vocabulary import RAN, Status
from tests.behave_run import ROOT, wait_until_running

STATUSES = [Status.PASSED] * 5 + [Status.FAILED, Status.ERROR, Status.SKIPPED, Status.UNTESTED]


def a_run(number: int, statuses: list[tuple[str, float]], version: str,
          build: str = "") -> RunResult:
    scenarios = [ScenarioResult(f"Scenario {i}", "Feature", f"f.feature:{i}", ["p1"], 1, 120e3,
                                "chat", status, duration)
                 for i, (status, duration) in enumerate(statuses)]
    started = f"2026-01-01T00:{number // 60:02d}:{number % 60:02d}+00:00"
    facts = RunFacts(f"run-{number:03d}", started, started, 1.0, "local", "http://127.0.0.1:1",
                     "http://127.0.0.1:1", "ws://127.0.0.1:1/ws", version, "@p1", False, False,
                     [], False, {"python": "3", "stagecheck": "0", "behave": "1.3"},
                     expected_version=build)
    return RunResult(RESULTS_SCHEMA_VERSION, facts, scenarios, roll_up(scenarios), decide(scenarios),
                     diagnose(scenarios, None, None, {"rerun": "behave", "backend": "x"}))


def reference_changes(result: RunResult, runs: list[RunResult]) -> Changes:
    """What changed, read plainly from the earlier runs (newest first, at most TREND_RUNS)."""
    past = runs[::-1][:TREND_RUNS]
    changes = Changes(previous_run_id=past[0].facts.run_id if past else "")
    for position, scenario in enumerate(result.scenarios):
        if scenario.status not in RAN:
            continue
        earlier = [(run, run.scenarios[position]) for run in past
                   if position < len(run.scenarios) and run.scenarios[position].status in RAN]
        failing = scenario.status != Status.PASSED
        if earlier:
            was_failing = earlier[0][1].status != Status.PASSED
            if failing and not was_failing:
                changes.newly_failing.append(scenario.name)
            elif not failing and was_failing:
                changes.fixed.append(scenario.name)
            elif failing:
                streak = list(itertools.takewhile(lambda e: e[1].status != Status.PASSED, earlier))
                since = streak[-1][0].facts
                changes.still_failing.append(StillFailing(scenario.name, since.run_id,
                                                          since.started_at, len(streak) + 1))
        same = [s.status for run, s in earlier
                if run.facts.target_version == result.facts.target_version][:FLAKY_WINDOW - 1]
        sequence = [scenario.status, *same]
        flips = sum((a == Status.PASSED) != (b == Status.PASSED)
                    for a, b in itertools.pairwise(sequence))
        if flips >= 2:
            changes.flaky.append(Flaky(scenario.name, flips, len(sequence)))
        usual = [s.duration_s for _, s in earlier if s.status == Status.PASSED][:FLAKY_WINDOW]
        if not failing and usual:
            typical = statistics.median(usual)
            if (scenario.duration_s >= SLOWER_FACTOR * typical
                    and scenario.duration_s - typical >= SLOWER_MIN_S):
                changes.slower.append(Slower(scenario.name, round(scenario.duration_s, 3),
                                             round(typical, 3)))
    _reference_verification(changes, result, runs[-1] if runs else None)
    return changes


def _reference_verification(changes: Changes, result: RunResult, previous: RunResult | None
                            ) -> None:
    """Judged now and not in the previous run, or the other way round (where both had it)."""
    for position, scenario in enumerate(result.scenarios):
        if previous is None or position >= len(previous.scenarios):
            continue
        now, then = scenario.status in RAN, previous.scenarios[position].status in RAN
        if now != then:
            (changes.newly_verified if now else changes.no_longer_verified).append(
                Verification(scenario.name, scenario.status))


def test_what_changed_in_sql_agrees_with_the_plain_reading(tmp_path: Path) -> None:
    rng = random.Random(7)
    history = History(tmp_path / "history.sqlite")
    runs: list[RunResult] = []
    checked = verified = 0
    for number in range(45):
        count = rng.randint(30, 40)  # scenarios come and go
        run = a_run(number, [(rng.choice(STATUSES), rng.choice([0.05, 0.1, 0.3, 0.9]))
                             for _ in range(count)], rng.choice(["1.0", "1.1", ""]))
        history.start(run.facts.run_id, "local", run.facts.started_at, "@p1")
        got = compute_changes(run, history, "local")
        want = reference_changes(run, runs)
        assert (got.previous_run_id, got.newly_failing, got.fixed, got.still_failing, got.flaky,
                got.slower, got.newly_verified, got.no_longer_verified) == (
            want.previous_run_id, want.newly_failing, want.fixed, want.still_failing, want.flaky,
            want.slower, want.newly_verified, want.no_longer_verified), number
        assert len(got.trend) == min(len(runs) + 1, TREND_RUNS)
        checked += len(got.newly_failing + got.fixed + got.still_failing + got.flaky + got.slower)
        verified += len(got.newly_verified) + len(got.no_longer_verified)
        history.finish(run, "local")
        runs.append(run)
    history.close()
    assert checked > 100  # the histories exercised every kind of change
    assert verified > 50


def _same_version_after(tmp_path: Path, runs: list[tuple[str, str]]) -> SameVersion | None:
    """The last of these runs (reported version, build released) against the ones before it."""
    history = History(tmp_path / "history.sqlite")
    changes = None
    for number, (reported, build) in enumerate(runs):
        run = a_run(number, [(Status.PASSED, 0.1)], reported, build)
        history.start(run.facts.run_id, "local", run.facts.started_at, "@p1")
        changes = compute_changes(run, history, "local")
        history.finish(run, "local")
    history.close()
    assert changes is not None
    return changes.same_version


def test_one_version_reported_for_different_builds_is_flagged(tmp_path: Path) -> None:
    # The platform's /health names "1.0.0" whatever build runs (netra_backend/app/routes/health.py).
    found = _same_version_after(tmp_path / "pinned", [("1.0.0", "1.4.1"), ("1.0.0", ""),
                                                      ("1.0.0", "1.4.2"), ("1.0.0", "1.4.3")])
    assert found == SameVersion("1.0.0", ["1.4.1", "1.4.2", "1.4.3"], "run-000")
    markdown = render(a_run(9, [], "1.0.0", "1.4.3"), "md")  # no history: nothing to flag
    assert "does not name its build" not in markdown


def test_a_deploy_that_did_not_happen_or_a_run_told_nothing_is_not_flagged(tmp_path: Path) -> None:
    # The old build still runs: its own version, reported for it before; not a pinned version.
    assert _same_version_after(tmp_path / "stale", [("1.4.1", "1.4.1"), ("1.4.1", "1.4.2")]) is None
    assert _same_version_after(tmp_path / "untold", [("1.0.0", ""), ("1.0.0", "")]) is None
    assert _same_version_after(tmp_path / "named", [("1.4.1", "1.4.1"), ("1.4.2", "1.4.2")]) is None
    # A reported version that changed in between ends the look back.
    assert _same_version_after(tmp_path / "moved", [("1.0.0", "1.4.1"), ("2.0.0", "1.4.2"),
                                                    ("1.0.0", "1.4.3")]) is None


def test_the_report_says_what_changed_in_verification_and_the_pinned_version(
        tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    first = a_run(0, [(Status.PASSED, 0.1), (Status.UNTESTED, 0.0)], "1.0.0", "1.4.1")
    second = a_run(1, [(Status.NOT_JUDGED, 0.0), (Status.PASSED, 0.1)], "1.0.0", "1.4.2")
    for run in (first, second):
        history.start(run.facts.run_id, "local", run.facts.started_at, "@p1")
        run.changes = compute_changes(run, history, "local")
        history.finish(run, "local")
    history.close()
    markdown, page = render(second, "md"), render(second, "html")
    assert "**Newly verified** (judged now, not in the previous run): Scenario 1 (passed)" in markdown
    assert ("**No longer verified** (judged in the previous run, not now): Scenario 0 (not judged)"
            in markdown)
    assert ("it reported version `1.0.0` for 2 different builds (1.4.1, 1.4.2) since run `run-000`"
            in markdown)
    assert "<strong>No longer verified</strong> (judged in the previous run, not now): Scenario 0" in page
    assert RunResult.from_json(second.to_json()).changes == second.changes


def test_a_schema_3_history_gains_the_builds_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        store.run_script(db, _schema_3_runs() + store.SCHEMA_2_TO_3)
        db.execute("INSERT INTO runs (run_id, target_key, started_at, finished_at, state, "
                   "target_version) VALUES ('old', 'local', '2026-01-01T00:00:00+00:00', "
                   "'2026-01-01T00:00:01+00:00', 'finished', '1.0')")
        assert "expected_version" not in [c[1] for c in db.execute("PRAGMA table_info(runs)")]
        db.execute("PRAGMA user_version = 3")
    history = History(path)
    run = a_run(1, [(Status.PASSED, 0.1)], "1.0", "1.4.2")
    history.start(run.facts.run_id, "local", run.facts.started_at, "@p1")
    history.finish(run, "local")
    history.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4
        assert db.execute("SELECT run_id, expected_version FROM runs ORDER BY run_id").fetchall(
            ) == [("old", None), ("run-001", "1.4.2")]


def _runs(path: Path) -> list[tuple[str, str, str | None]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT run_id, state, verdict FROM runs ORDER BY started_at").fetchall()


def test_a_run_whose_process_is_gone_is_interrupted_and_a_live_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    History(path).start("alive", "local", "2026-01-01T00:00:00+00:00", "@p1")  # this process
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(gone.stdout)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO runs (run_id, target_key, started_at, state, host, pid) "
                   "VALUES ('dead', 'local', '2026-01-01T00:00:01+00:00', 'running', ?, ?)",
                   (socket.gethostname(), pid))
        db.execute("INSERT INTO runs (run_id, target_key, started_at, state, host, pid) "
                   "VALUES ('elsewhere', 'local', '2026-01-01T00:00:02+00:00', 'running', "
                   "'another-host', ?)", (os.getpid(),))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 0)
        raise AssertionError("the finished process's pid was reused at once; run again")
    History(path).start("next", "local", "2026-01-01T00:00:03+00:00", "@p1")
    assert {run: state for run, state, _ in _runs(path)} == {
        "alive": "running", "dead": "interrupted", "elsewhere": "running", "next": "running"}


def test_a_schema_1_history_is_upgraded_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, target_key VARCHAR NOT NULL, "
                   "started_at VARCHAR NOT NULL, finished_at VARCHAR, state VARCHAR NOT NULL, "
                   "verdict VARCHAR, revenue_at_risk FLOAT, revenue_unverified FLOAT, "
                   "scenarios INTEGER, passed INTEGER, failed INTEGER, unverified INTEGER, "
                   "target_version VARCHAR, tag_expression VARCHAR)")
        db.execute("CREATE TABLE scenario_runs (run_id VARCHAR REFERENCES runs (run_id) ON DELETE "
                   "CASCADE, scenario_key VARCHAR, name VARCHAR NOT NULL, status VARCHAR NOT NULL,"
                   " duration_s FLOAT NOT NULL, PRIMARY KEY (run_id, scenario_key))")
        db.execute("INSERT INTO runs VALUES ('old', 'local', '2026-01-01T00:00:00+00:00', "
                   "'2026-01-01T00:00:01+00:00', 'finished', 'GO', 0, 0, 1, 1, 0, 0, '1.0', '')")
        db.execute("INSERT INTO scenario_runs VALUES ('old', ?, 'Scenario 0', 'passed', 0.1)",
                   (scenario_key("Feature", "Scenario 0"),))
        db.execute("PRAGMA user_version = 1")
    history = History(path)
    run = a_run(1, [(Status.FAILED, 0.1)], "1.0")
    history.start(run.facts.run_id, "local", run.facts.started_at, "@p1")
    assert compute_changes(run, history, "local").newly_failing == ["Scenario 0"]
    history.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == store.HISTORY_SCHEMA_VERSION



def _schema_3_runs() -> str:
    """The runs and scenario_runs tables as schemas 2 and 3 had them (without the builds)."""
    lines = [line for line in store.SCHEMA.splitlines() if "expected_version" not in line]
    return "\n".join(lines).replace("process_start TEXT,", "process_start TEXT")


def test_a_schema_2_history_gains_the_measures_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        store.run_script(db, _schema_3_runs())
        db.execute("INSERT INTO runs (run_id, target_key, started_at, finished_at, state, "
                   "target_version) VALUES ('old', 'local', '2026-01-01T00:00:00+00:00', "
                   "'2026-01-01T00:00:01+00:00', 'finished', '1.0')")
        db.execute("PRAGMA user_version = 2")
    History(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == store.HISTORY_SCHEMA_VERSION
        assert db.execute("SELECT run_id FROM runs").fetchall() == [("old",)]
        assert db.execute("SELECT count(*) FROM scenario_measures").fetchone()[0] == 0

def _gate(history: Path, reports: Path) -> list[str]:
    # The whole P1 gate: a run that stays "running" for a second or more, long enough for the
    # test to see it (and stop it) even on a loaded machine.
    return [sys.executable, "-m", "behave", "--tags=@p1", "-f", "null",
            "-D", f"history={history}", "-D", f"report_dir={reports}"]


def test_two_runs_at_once_on_one_history_neither_mislabels_the_other(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    first = subprocess.run(_gate(history, tmp_path / "first"), cwd=ROOT, capture_output=True,
                           timeout=120)
    assert first.returncode == 0, first.stderr
    # The second run is held still (SIGSTOP) once it has recorded itself as running, while a
    # third starts, compares and finishes on the same history; then the second goes on.
    second = subprocess.Popen(_gate(history, tmp_path / "second"), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until_running(history)
        second.send_signal(signal.SIGSTOP)
        third = subprocess.run(_gate(history, tmp_path / "third"), cwd=ROOT, capture_output=True,
                               timeout=120)
        while_held = _runs(history)
        second.send_signal(signal.SIGCONT)
        assert second.wait(120) in (0, 1)
    finally:
        second.send_signal(signal.SIGCONT)
        second.kill()
    assert third.returncode == 0, third.stderr
    assert [state for _, state, _ in while_held] == ["finished", "running", "finished"]
    runs = _runs(history)
    assert [(state, verdict is not None) for _, state, verdict in runs] == [("finished", True)] * 3
    changes = json.loads((tmp_path / "third" / "latest" / "results.json").read_text())["changes"]
    first_id = runs[0][0]
    assert changes["previous_run_id"] == first_id  # not the second run, still without a verdict
    assert [point["run_id"] for point in changes["trend"]] == [first_id, runs[2][0]]
    second_changes = json.loads((tmp_path / "second" / "latest" / "results.json").read_text())
    assert second_changes["changes"]["previous_run_id"] == first_id  # started before the third
