"""Parallel scenarios (`-D workers=N`): the same judgement as one process, scenario by scenario,
with one console, one verdict line, one report and one history entry; and the pieces (the
split, the workers' command, the setting, the interrupt) in isolation."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from stagecheck.config.settings import load_settings
from stagecheck.config.values import parse_workers
from stagecheck.errors import ConfigError
from stagecheck.gate.selection import Unit
from stagecheck.gate.workers import (
    STOP_FILE,
    STOPPED_ELSEWHERE,
    _workers,
    plan,
    stop_the_others,
    stopped_elsewhere,
    worker_command,
)
from tests.behave_run import ROOT

WHOLE = "not @load"  # the load tier runs alone and takes minutes: tests/test_load.py has it


def _gate(folder: Path, *args: str) -> tuple[int, dict, str]:
    ran = subprocess.run([sys.executable, "-m", "behave", "-f", "null", "-D",
                          f"report_dir={folder}", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    results = json.loads((folder / "latest" / "results.json").read_text())
    return ran.returncode, results, ran.stdout + ran.stderr


def _judged(results: dict) -> dict[str, tuple[str, str, str]]:
    """Each scenario's status, failing step and who is at fault."""
    return {f"{s['feature']} / {s['name']}": (
        s["status"], next((step["name"] for step in s["steps"]
                           if step["status"] in ("failed", "error")), ""), s["classification"])
        for s in results["scenarios"]}


def _history_runs(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


@pytest.mark.parametrize("fault", ["", "agent-canned-answer"])
def test_workers_judge_every_scenario_as_one_process_does(tmp_path: Path, fault: str) -> None:
    faults = ["-D", f"standin_fault={fault}"] if fault else []
    one_code, one, _ = _gate(tmp_path / "one", f"--tags={WHOLE}", *faults)
    code, parallel, console = _gate(tmp_path / "three", f"--tags={WHOLE}", "-D", "workers=3",
                                    *faults)
    assert (code, parallel["verdict"]) == (one_code, one["verdict"])
    assert _judged(parallel) == _judged(one)  # file order too: dicts compare keys, lists below
    assert list(_judged(parallel)) == list(_judged(one))
    assert parallel["impact"]["revenue_at_risk"] == one["impact"]["revenue_at_risk"]
    assert _history_runs(tmp_path / "three" / "history.sqlite") == 1
    assert console.count("Release gate") == 1 and "in 3 workers at once" in console
    listed = [line.split(": ", 1)[1].rsplit(" (", 1)[0] for line in console.splitlines()
              if line.startswith("  ") and ": " in line and not line.startswith("   ")]
    assert listed == [s["name"] for s in one["scenarios"]]  # the console keeps file order
    if fault:
        assert one_code == 3 and {k for k, v in _judged(parallel).items() if v[0] == "failed"}


def test_stop_starts_no_new_scenario_after_a_failure(tmp_path: Path) -> None:
    # P1 discovery fails, and nothing else: under a fault that fails scenarios further on,
    # another worker may reach and fail one before the first failure stops it.
    fault = ["-D", "standin_fault=discovery-server-without-status"]
    one_code, one, _ = _gate(tmp_path / "one", "--tags=@p1", "--stop", *fault)
    code, parallel, _ = _gate(tmp_path / "three", "--tags=@p1", "--stop", "-D", "workers=3",
                              *fault)
    assert code == one_code == 1 and parallel["verdict"] == one["verdict"]
    failed = {k: v for k, v in _judged(parallel).items() if v[0] == "failed"}
    assert failed == {k: v for k, v in _judged(one).items() if v[0] == "failed"}
    assert len(failed) == 1
    # Which scenarios the other workers had started when it failed depends on timing; none
    # of them is failed or cut short, and none started after the failure.
    assert {s["status"] for s in parallel["scenarios"]} <= {"passed", "failed", "untested"}
    assert all(s["key_finding"].startswith("not reached") for s in parallel["scenarios"]
               if s["status"] == "untested")
    assert parallel["facts"]["interrupted"] is False


def test_a_failing_worker_tells_the_others_to_start_nothing(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert not stopped_elsewhere()  # not a worker: nothing to tell
    stop_the_others()
    monkeypatch.setenv(STOP_FILE, str(tmp_path / "stopped"))
    assert not stopped_elsewhere()
    stop_the_others()
    assert stopped_elsewhere() and (tmp_path / "stopped").exists()


def _unit(key: str, *tags: str, feature_tags: tuple[str, ...] = ()) -> Unit:
    return Unit(key, SimpleNamespace(tags=list(tags), location=f"features/x.feature:{key}"),
                SimpleNamespace(tags=list(feature_tags)))


def test_the_split_keeps_the_scenarios_that_run_alone_apart_and_each_once() -> None:
    units = [_unit(f"s{n}") for n in range(7)] + [_unit("crowd", "serial"),
                                                 _unit("locust", feature_tags=("load",))]
    groups, alone = plan(units, 3, {"s0": 5.0} | {f"s{n}": 1.0 for n in range(1, 7)})
    assert [u.key for u in alone] == ["crowd", "locust"]
    assert sorted(u.key for g in groups for u in g) == [f"s{n}" for n in range(7)]
    assert len(groups) == 3 and [u.key for u in groups[0]] == ["s0"]  # the longest alone
    assert plan(units[:2], 8, {})[0] == [[units[0]], [units[1]]]  # no empty worker


def test_a_worker_gets_the_run_s_selection_and_settings_but_its_own_outputs(
        tmp_path: Path) -> None:
    config = SimpleNamespace(tags=["@p1", "not @slow"], name=["sign"], stop=True, userdata={
        "workers": "4", "target": "local", "standin_fault": "db-down", "report_dir": "mine",
        "notify": "https://hooks.example/x", "metrics_file": "m.prom", "history": "h.sqlite"})
    command = worker_command(config, load_settings({}), tmp_path / "part-1",
                             [_unit("a"), _unit("bb")])
    joined = " ".join(command)
    assert "--tags=@p1 --tags=not @slow --name=sign --stop" in joined
    assert "-D standin_fault=db-down" in joined and "-D target=local" in joined
    for own in ("workers=4", "report_dir=mine", "hooks.example", "m.prom", "h.sqlite"):
        assert own not in joined
    assert f"-D partial=true -D report_dir={tmp_path / 'part-1'}" in joined
    assert command[-2:] == ["features/x.feature:a", "features/x.feature:bb"]


def test_behave_s_own_outputs_are_refused_in_workers_with_one_sentence(tmp_path: Path) -> None:
    ran = subprocess.run([sys.executable, "-m", "behave", "--tags=@p1", "--junit",
                          "--junit-directory", str(tmp_path / "junit"), "-D", "workers=2",
                          "-D", f"report_dir={tmp_path / 'reports'}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2
    assert "behave's own outputs (--junit, -o) see one process" in ran.stderr
    assert not (tmp_path / "reports").exists()


def test_the_workers_setting() -> None:
    assert parse_workers("auto", 2) == 4 and parse_workers("auto", 64) == 8
    assert parse_workers("3", 2) == 3
    for wrong in ("0", "33", "many", "-1"):
        with pytest.raises(ConfigError, match="setting workers must"):
            parse_workers(wrong, 2)


def test_an_interrupt_reaches_each_worker_once_and_is_waited_for(tmp_path: Path) -> None:
    child = ("import pathlib, signal, sys, time\n"
             "out = pathlib.Path(sys.argv[1])\n"
             "def stop(*_):\n"
             "    out.write_text(out.read_text() + 'interrupted;')\n"
             "    sys.exit(0)\n"
             "signal.signal(signal.SIGINT, stop)\n"
             "out.write_text('ready;')\n"
             "time.sleep(60)\n")  # a worker busy with a scenario
    marks = [tmp_path / f"w{n}" for n in range(2)]
    started = time.monotonic()
    commands = [[sys.executable, "-c", child, str(m)] for m in marks]
    with contextlib.suppress(KeyboardInterrupt), _workers(commands, {}, tmp_path) as processes:
        deadline = time.monotonic() + 30
        while not all(m.exists() and m.read_text() for m in marks):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.02)
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM made one, in the run
    assert [m.read_text() for m in marks] == ["ready;interrupted;"] * 2
    assert [p.returncode for p in processes] == [0, 0]
    assert time.monotonic() - started < 30
    assert STOPPED_ELSEWHERE.startswith("not reached")
