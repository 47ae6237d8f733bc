"""Parallel scenarios (`-D workers=N`): the same judgement as one process, scenario by scenario,
with one console, one verdict line, one report and one history entry; workers started only
while the target keeps a scenario waiting; and the pieces (the claims, the workers' command,
the setting, the interrupt) in isolation."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from behave.configuration import Configuration

from stagecheck.config.settings import load_settings
from stagecheck.config.values import parse_workers
from stagecheck.errors import ConfigError
from stagecheck.gate import pool as pools
from stagecheck.gate.claims import Claims, keep_only
from stagecheck.gate.pool import SETTINGS, Pool, adopt_run_settings, settings_env, worker_command
from stagecheck.gate.runner import GateRunner
from stagecheck.gate.selection import Unit
from stagecheck.gate.workers import (
    LOST_WITH_ITS_WORKER,
    STOPPED_ELSEWHERE,
    alone_last,
    assembled,
    before_scenario,
    same_target_version,
)
from stagecheck.report.model import RunResult
from tests.behave_run import ROOT

WHOLE = "not @load"  # the load tier runs alone and takes minutes: tests/test_load.py has it
AT_ONCE = ("-D", "workers_after=0")  # every worker started at once: the stand-in is quick


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
                                    *AT_ONCE, *faults)
    assert "worker 3 of 3 started" in console and "without its results" not in console
    assert (code, parallel["verdict"]) == (one_code, one["verdict"])
    assert _judged(parallel) == _judged(one)  # file order too: dicts compare keys, lists below
    assert list(_judged(parallel)) == list(_judged(one))
    assert parallel["impact"]["revenue_at_risk"] == one["impact"]["revenue_at_risk"]
    assert _history_runs(tmp_path / "three" / "history.sqlite") == 1
    assert sorted(p.name for p in (tmp_path / "three").iterdir()) == sorted(
        ["history.sqlite", "latest", parallel["facts"]["run_id"]])  # one run, one report
    assert console.count("Release gate") == 1
    listed = [line.split(": ", 1)[1].rsplit(" (", 1)[0] for line in console.splitlines()
              if line.startswith("  ") and ": " in line and not line.startswith("   ")]
    assert listed == [s["name"] for s in one["scenarios"]]  # the console keeps file order
    if fault:
        assert one_code == 3 and {k for k, v in _judged(parallel).items() if v[0] == "failed"}


def test_on_a_quick_target_no_worker_starts_and_the_run_is_one_process_s(tmp_path: Path) -> None:
    # Quick against the threshold however loaded the machine running the tests is (the default,
    # 2 s, is measured by bench/workers.py --embedded).
    code, result, console = _gate(tmp_path / "r", "--tags=@p1", "-D", "workers=8",
                                  "-D", "workers_after=20")
    _, _, alone = _gate(tmp_path / "one", "--tags=@p1")
    assert code == 0 and result["merged_from"] == [] and result["shard"] is None
    assert "worker" not in console
    summary = [line for line in console.splitlines() if " passed, " in line]
    assert summary == [line for line in alone.splitlines() if " passed, " in line]
    assert "15 scenarios passed, 0 failed, 0 skipped" in summary  # behave's, of the selection
    assert _history_runs(tmp_path / "r" / "history.sqlite") == 1


def test_the_project_s_configuration_leaves_the_workers_to_the_target(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    configured = dict(Configuration(command_args=[], load_config=True).userdata)
    environ = {"STAGING_BASE_URL": "https://api.staging.example.com",
               "E2E_OAUTH_SIMULATION_KEY": "k" * 16}
    staging = load_settings({**configured, "target": "staging"}, environ)
    assert staging.workers == parse_workers("auto", os.cpu_count()) > 1
    assert load_settings(configured, environ).workers == 1  # the embedded stand-in
    assert load_settings({**configured, "target": "production",
                          "base_url": "https://api.example.com"}, environ).workers == 1


def test_stop_starts_no_new_scenario_after_a_failure(tmp_path: Path) -> None:
    # P1 discovery fails, and nothing else: under a fault that fails scenarios further on,
    # another worker may reach and fail one before the first failure stops it.
    fault = ["-D", "standin_fault=discovery-server-without-status"]
    one_code, one, _ = _gate(tmp_path / "one", "--tags=@p1", "--stop", *fault)
    code, parallel, _ = _gate(tmp_path / "three", "--tags=@p1", "--stop", "-D", "workers=3",
                              *AT_ONCE, *fault)
    assert code == one_code == 1 and parallel["verdict"] == one["verdict"]
    failed = {k: v for k, v in _judged(parallel).items() if v[0] == "failed"}
    assert failed == {k: v for k, v in _judged(one).items() if v[0] == "failed"}
    assert len(failed) == 1
    assert list(_judged(parallel)) == list(_judged(one))  # every scenario once, in file order
    # Which scenarios the other workers had started when it failed depends on timing; none
    # of them is failed or cut short, and none started after the failure.
    assert {s["status"] for s in parallel["scenarios"]} <= {"passed", "failed", "untested"}
    assert all(s["key_finding"].startswith("not reached") for s in parallel["scenarios"]
               if s["status"] == "untested")
    assert parallel["facts"]["interrupted"] is False


def _unit(key: str, *tags: str, feature_tags: tuple[str, ...] = (),
          feature: object = None) -> Unit:
    return Unit(key, SimpleNamespace(tags=list(tags), location=f"features/x.feature:{key}",
                                     name=key),
                feature or SimpleNamespace(tags=list(feature_tags), name="F"))


def test_each_unit_is_run_by_the_first_process_to_take_it(tmp_path: Path) -> None:
    rows = [SimpleNamespace(), SimpleNamespace()]
    outline = Unit("o", SimpleNamespace(tags=[], scenarios=rows), SimpleNamespace(tags=[]))
    units = [_unit("a"), outline, _unit("crowd", "serial")]
    run = Claims(tmp_path, units, "worker-1", helper=False)
    worker = Claims(tmp_path, units, "worker-2", helper=True)
    assert worker.take(units[0].model) and not run.take(units[0].model)
    assert run.take(rows[0]) and run.take(rows[1])  # an outline's rows: all in one process
    assert not worker.take(rows[1])
    assert not worker.take(units[2].model)  # must run alone: never a worker's
    drained: list[bool] = []
    pool = SimpleNamespace(drain=lambda: drained.append(True))
    assert worker.open_units() == [] and run.must_run_alone(units[2].model)
    assert before_scenario(SimpleNamespace(gate_pool=pool, scenario=units[2].model), run)
    assert drained == [True]  # the run's own process waited for its workers to end first
    assert worker.take(SimpleNamespace())  # not in the selection: not the claims' business
    assert (run.mine, worker.mine) == ({"o", "crowd"}, {"a"})
    assert run.claimants() == {"worker-1", "worker-2"}
    assert run.kept(unclaimed_too=True) == {"o", "crowd"}


def test_scenarios_nobody_took_are_reported_by_the_run_s_own_process(tmp_path: Path) -> None:
    units = [_unit("a"), _unit("b"), _unit("c")]
    run = Claims(tmp_path, units, "worker-1", helper=False)
    worker = Claims(tmp_path, units, "worker-2", helper=True)
    assert run.take(units[0].model) and worker.take(units[1].model)
    assert run.kept(unclaimed_too=True) == {"a", "c"}  # c: not reached (--stop), left out…
    assert worker.kept(unclaimed_too=False) == {"b"}
    feature = SimpleNamespace(scenarios=[u.model for u in units], run_items=[u.model for u in units])
    keep_only([feature], units, {"a", "c"})
    assert feature.scenarios == feature.run_items == [units[0].model, units[2].model]


def test_how_long_a_scenario_has_waited_and_a_stop_are_seen_by_every_process(
        tmp_path: Path) -> None:
    units = [_unit("a"), _unit("b")]
    run = Claims(tmp_path, units, "worker-1", helper=False)
    worker = Claims(tmp_path, units, "worker-2", helper=True)
    assert worker.waiting_longest(time.time()) == 0
    run.take(units[0].model)
    assert 5 <= worker.waiting_longest(time.time() + 5) < 6
    assert worker.pace() is None  # nothing has finished yet
    run.done(units[0].model, stop=False)
    assert worker.waiting_longest(time.time() + 5) == 0 and not worker.stopped()
    pace = worker.pace()
    assert pace is not None and 0 <= pace < 5
    worker.take(units[1].model)
    worker.done(units[1].model, stop=True)  # failed under --stop
    assert run.stopped()


def test_scenarios_that_run_alone_come_last_in_the_run_s_own_process() -> None:
    config = SimpleNamespace(tag_expression=None, name=[])
    def feature(name: str, *tags: str) -> SimpleNamespace:
        scenario = SimpleNamespace(name=name, tags=[], should_run_with_tags=lambda _: True,
                                   should_run_with_name_select=lambda _: True)
        return SimpleNamespace(name=name, tags=list(tags), scenarios=[scenario])
    features = [feature("a"), feature("load", "load"), feature("b")]
    assert [f.name for f in alone_last(features, config)] == ["a", "b", "load"]


def test_a_worker_gets_the_run_s_selection_on_its_command_line_and_settings_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "postgresql://gate:S3cretPw0rd@db.example/platform"
    config = SimpleNamespace(tags=["@p1", "not @slow"], name=["sign"], stop=True, userdata={
        "workers": "4", "target": "local", "standin_fault": "db-down", "report_dir": "mine",
        "notify": "https://hooks.example/x", "metrics_file": "m.prom", "history": "h.sqlite",
        "workers_after": "0", "database_url": secret},
        paths=["features/a.feature", "features/b.feature:12"], include_re=re.compile("a|b"),
        exclude_re=re.compile("load"), lang="en", stage="")
    command = worker_command(config, tmp_path / "part-2")
    joined = " ".join(command)
    assert "--tags=@p1 --tags=not @slow --name=sign --include=a|b --exclude=load --lang=en " \
        "--stop" in joined
    assert "S3cretPw0rd" not in joined and "db-down" not in joined  # `ps` shows command lines
    assert f"-D partial=true -D report_dir={tmp_path / 'part-2'}" in joined
    assert command[-2:] == ["features/a.feature", "features/b.feature:12"]
    env = settings_env(config.userdata)
    given = json.loads(env[SETTINGS])
    assert given["database_url"] == secret and given["standin_fault"] == "db-down"
    for own in ("workers", "workers_after", "report_dir", "notify", "metrics_file", "history"):
        assert own not in given
    userdata = {"report_dir": "part-2"}
    adopt_run_settings(userdata)  # not a worker: nothing adopted
    assert userdata == {"report_dir": "part-2"}
    monkeypatch.setenv(SETTINGS, env[SETTINGS])
    monkeypatch.setenv("STAGECHECK_CLAIMS", str(tmp_path))
    adopt_run_settings(userdata)
    assert userdata["database_url"] == secret and userdata["report_dir"] == "part-2"


@pytest.mark.parametrize("output", ["junit", "json"])
def test_behave_s_own_outputs_are_refused_in_workers_with_one_sentence(
        tmp_path: Path, output: str) -> None:
    asked = ["--junit", "--junit-directory", str(tmp_path / "junit")] if output == "junit" \
        else ["-f", "json"]  # to stdout: it would hold one process's share
    ran = subprocess.run([sys.executable, "-m", "behave", "--tags=@p1", *asked, "-D",
                          "workers=2", "-D", f"report_dir={tmp_path / 'reports'}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2 and "Release gate: could not judge" in ran.stdout
    assert "behave's own outputs (--junit, -o, a formatter such as json) see one process" \
        in ran.stderr
    assert not (tmp_path / "reports").exists()


def test_the_workers_setting() -> None:
    assert parse_workers("auto", 2) == 4 and parse_workers("auto", 64) == 8
    assert parse_workers("3", 2) == 3
    for wrong in ("0", "33", "many", "-1"):
        with pytest.raises(ConfigError, match="setting workers must"):
            parse_workers(wrong, 2)
    assert load_settings({"workers_after": "0"}).workers_after == 0
    assert load_settings({}).workers_after == 2.0
    with pytest.raises(ConfigError, match="workers_after must be 0 or more seconds"):
        load_settings({"workers_after": "-1"})


@pytest.mark.parametrize("when", ["in a scenario", "waiting for the workers"])
def test_an_interrupt_reaches_each_worker_once_and_is_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    child = ("import pathlib, signal, sys, time\n"
             "out = pathlib.Path(sys.argv[1])\n"
             "def stop(*_):\n"
             "    out.write_text(out.read_text() + 'interrupted;')\n"
             "    sys.exit(0)\n"
             "signal.signal(signal.SIGINT, stop)\n"
             "out.write_text('ready;')\n"
             "time.sleep(60)\n")  # a worker busy with a scenario
    marks = [tmp_path / f"w{n}" for n in (2, 3)]
    monkeypatch.setattr(pools, "worker_command", lambda config, folder: [
        sys.executable, "-c", child, str(tmp_path / f"w{folder.name.split('-')[1]}")])
    units = [_unit(k) for k in "abcd"]
    claims = Claims(tmp_path / "claims", units, "worker-1", helper=False)
    settings = load_settings({"workers": "3", "workers_after": "0"})
    started = time.monotonic()
    pool = Pool(SimpleNamespace(userdata={}), settings, claims, SimpleNamespace(name="staging"),
                tmp_path)
    deadline = time.monotonic() + 30
    while not all(m.exists() and m.read_text() for m in marks):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.02)
    if when == "in a scenario":
        pool.close()  # Ctrl-C, or SIGTERM made one, in the run's own scenario
    else:  # the run's own share done, waiting for its workers: Ctrl-C then
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            pool.drain()
    assert [m.read_text() for m in marks] == ["ready;interrupted;"] * 2
    pool.thread.join(5)
    assert not pool.thread.is_alive()  # it lived until its workers had ended
    assert [p.returncode for p in pool.processes] == [0, 0]
    assert time.monotonic() - started < 30
    assert STOPPED_ELSEWHERE.startswith("not reached")


def test_a_worker_that_cannot_start_leaves_the_run_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pools, "worker_command",
                        lambda config, folder: [str(tmp_path / "no-such-python")])
    claims = Claims(tmp_path / "claims", [_unit("a"), _unit("b")], "worker-1", helper=False)
    pool = Pool(SimpleNamespace(userdata={}), load_settings({"workers": "3", "workers_after": "0"}),
                claims, SimpleNamespace(name="staging"), tmp_path)
    deadline = time.monotonic() + 10
    said = ""
    while "no more workers start" not in said:
        said += capfd.readouterr().err
        assert time.monotonic() < deadline, "the failure was not said"
        time.sleep(0.02)
    pool.drain()
    assert pool.processes == [] and pool.results() == []


@pytest.mark.parametrize(("userdata", "junit", "in_workers"), [
    ({"target": "staging"}, False, True),       # a deployed target: auto
    ({"target": "staging"}, True, False),       # behave's own outputs: one process
    ({"target": "staging", "workers": "1"}, False, False),
    ({}, False, False),                         # the embedded stand-in answers at once
    ({"workers": "4"}, False, True),
    ({"target": "staging", "partial": "true"}, False, False),  # a piece of a run
])
def test_who_runs_in_workers_by_default(userdata: dict[str, str], junit: bool,
                                        in_workers: bool) -> None:
    environ = {"STAGING_BASE_URL": "https://api.staging.example.com",
               "E2E_OAUTH_SIMULATION_KEY": "k" * 16}
    settings = load_settings(userdata, environ)
    runner = SimpleNamespace(gate_settings=settings, config=SimpleNamespace(
        junit=junit, outfiles=[], format=None, userdata=userdata, dry_run=False))
    assert GateRunner._in_workers(runner) is in_workers  # type: ignore[arg-type]
    if not userdata:
        assert settings.workers == 1
    elif userdata == {"target": "staging"}:
        assert settings.workers == parse_workers("auto", os.cpu_count())


def test_what_a_worker_took_and_left_no_result_for_is_not_verified(tmp_path: Path) -> None:
    _, saved, _ = _gate(tmp_path / "one", "--tags=@p1")
    whole = RunResult.from_json((tmp_path / "one" / "latest" / "results.json").read_text())
    units = [Unit(f"{s.feature} / {s.name}", SimpleNamespace(
        name=s.name, tags=[], location=s.location), SimpleNamespace(name=s.feature, tags=["p1"]))
        for s in whole.scenarios]
    run = Claims(tmp_path / "claims", units, "worker-1", helper=False)
    dead = Claims(tmp_path / "claims", units, "worker-2", helper=True)
    assert dead.take(units[3].model) and all(run.take(u.model) for u in units[4:])
    run.take(units[0].model), run.take(units[1].model), run.take(units[2].model)
    own = RunResult.from_json((tmp_path / "one" / "latest" / "results.json").read_text())
    own.scenarios.pop(3)  # what the run's own process reports: not what worker 2 took
    crashed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(9)"])
    crashed.wait()
    pool = SimpleNamespace(processes=[crashed], results=list)
    result = assembled(own, run, pool, whole.facts.run_id)  # type: ignore[arg-type]
    assert [s.name for s in result.scenarios] == [s["name"] for s in saved["scenarios"]]
    lost = result.scenarios[3]
    assert (lost.status, lost.key_finding) == ("untested", LOST_WITH_ITS_WORKER)
    assert result.verdict.decision != "GO" and result.facts.run_id == whole.facts.run_id


def test_a_build_changed_under_the_workers_is_said_as_one_process_says_it() -> None:
    def piece(start: str, end: str) -> SimpleNamespace:
        return SimpleNamespace(facts=SimpleNamespace(target_version_at_start=start,
                                                     target_version=end))
    own, first, second = piece("1.0.0", "1.0.0"), piece("1.0.0", "2.0.0"), piece("", "")
    same_target_version(own, [first, second])  # type: ignore[list-item, arg-type]
    for each in (own, first, second):  # the merge sees one build, and the run two
        assert (each.facts.target_version_at_start, each.facts.target_version) == (
            "1.0.0", "2.0.0")
    quiet, unanswered = piece("1.0.0", "1.0.0"), piece("", "")
    same_target_version(quiet, [unanswered])  # type: ignore[list-item, arg-type]
    assert unanswered.facts.target_version == quiet.facts.target_version == "1.0.0"
