"""`stagecheck serve`'s runs over their whole life, against real services on loopback: a build
that changes during a run, runs found again after a restart, retention across restarts, a run
stopped at its deadline, SIGTERM with a run in flight, and `kill -9` of the service (its
behave children die with it). The queue's memory bound is checked in isolation."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stagecheck.config.settings import load_settings
from stagecheck.history.store import History
from stagecheck.report.build import build_changed
from stagecheck.report.model import RunFacts
from stagecheck.service.runs import LOST, STOPPED_BY_SERVICE, GateRun, RunQueue
from stagecheck.service.stored import remove_folders, write_record
from stagecheck.vocabulary import Decision, RunStatus
from standin import start_standin
from tests.behave_run import wait_until_running
from tests.test_service import Service, poll_until_finished, start_service, stop_service

SLOW = {"tags": "@p1", "target": "local+slow-responses"}  # a run of about 40 s


def history_of(service: Service) -> Path:
    return service.folder.parent / "history.sqlite"


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is not)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def test_a_target_that_changes_build_during_a_run_gets_no_verdict(tmp_path: Path) -> None:
    with start_standin() as standin:
        service = start_service(tmp_path, "service_targets=staging", env={
            "STAGING_BASE_URL": standin.urls.backend_url,
            "E2E_OAUTH_SIMULATION_KEY": standin.bypass_key})
        try:
            with service.client() as client:
                started = client.post("/runs", json={"tags": "@p1", "target": "staging",
                                                     "version": "1.0.0"})
                # The run has read the target's version once it records itself running.
                assert wait_until_running(history_of(service))
                standin.set_version("2.0.0")  # a deploy, mid-run
                changed = poll_until_finished(client, started.headers["location"])
                # Asked after the deploy: a run of its own, which judges the build now there.
                after = client.get("/verdict", params={"tags": "@p1", "target": "staging",
                                                       "version": "2.0.0"})
        finally:
            stop_service(service)
    assert changed["outcome"] == "not judged" and changed["decision"] == "COULD NOT JUDGE"
    assert changed["reason"] == ("the target changed during the run (1.0.0, then 2.0.0): this "
                                 "verdict would be about neither build")
    assert (changed["target_version_at_start"], changed["target_version"]) == ("1.0.0", "2.0.0")
    assert after.status_code == 200 and after.json()["outcome"] == "GO"
    assert after.json()["id"] != changed["id"]
    with sqlite3.connect(history_of(service)) as db:
        verdicts = db.execute("SELECT verdict, target_version FROM runs ORDER BY started_at"
                              ).fetchall()
    assert verdicts == [("COULD NOT JUDGE", "2.0.0"), ("GO", "2.0.0")]


def _verdict_in_thread(service: Service, answers: list[httpx.Response]) -> threading.Thread:
    def ask() -> None:
        with service.client() as client:
            answers.append(client.get("/verdict", params=SLOW))

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


def test_sigterm_interrupts_runs_in_flight_and_restarts_forget_nothing(tmp_path: Path) -> None:
    first = start_service(tmp_path)
    answers: list[httpx.Response] = []
    waiting = _verdict_in_thread(first, answers)
    assert wait_until_running(history_of(first))  # the run is in a scenario
    asked = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(timeout=60)
    took = time.monotonic() - asked
    waiting.join(timeout=10)
    assert took < 20, f"SIGTERM took {took:.1f} s"  # the default --grace
    stopped = answers[0].json()
    assert answers[0].status_code == 503 and stopped["reason"] == STOPPED_BY_SERVICE
    assert stopped["interrupted"] is True  # behave wrote its report: interrupted first, not killed

    second = start_service(tmp_path, "service_deadline=1")
    try:
        with second.client() as client:
            found = client.get(f"/runs/{stopped['id']}")
            report = client.get(f"/runs/{stopped['id']}/report.md")
            # A clean run on a healthy stand-in, stopped at a deadline shorter than the run.
            late = client.post("/runs", json={"tags": "@p1", "target": "local"})
            deadline = poll_until_finished(client, late.headers["location"])
    finally:
        stop_service(second)
    assert found.status_code == 200 and found.json()["outcome"] == "not judged"
    assert found.json()["reason"] == STOPPED_BY_SERVICE and found.json()["interrupted"] is True
    assert report.status_code == 200 and report.text.startswith("# ")
    assert deadline["outcome"] == "not judged" and deadline["decision"] == "COULD NOT JUDGE"
    assert deadline["reason"].startswith("the run reached service_deadline (1 s) and was stopped")

    third = start_service(tmp_path, "keep_runs=1")  # retention covers runs from before it
    try:
        with third.client() as client:
            pruned = client.get(f"/runs/{stopped['id']}")
            kept = client.get(f"/runs/{deadline['id']}")
    finally:
        stop_service(third)
    assert pruned.status_code == 404 and not (third.folder / "runs" / stopped["id"]).exists()
    assert kept.status_code == 200 and kept.json()["reason"] == deadline["reason"]


def test_the_runs_of_a_service_killed_with_sigkill_die_with_it(tmp_path: Path) -> None:
    service = start_service(tmp_path)
    with service.client() as client:
        started = client.post("/runs", json=SLOW).json()
    assert wait_until_running(history_of(service))
    (child,) = children_of(service.process.pid)
    assert os.getpgid(child) == child != os.getpgid(service.process.pid)  # a group of its own
    service.process.kill()
    service.process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the behave child runs on after kill -9 of the service"
    with sqlite3.connect(history_of(service)) as db:
        assert db.execute("SELECT state, verdict FROM runs").fetchall() == [("running", None)]

    again = start_service(tmp_path)
    try:
        with again.client() as client:
            lost = client.get(f"/runs/{started['id']}")
    finally:
        stop_service(again)
    assert lost.status_code == 200
    assert lost.json()["outcome"] == "not judged" and lost.json()["reason"] == LOST


def test_finished_runs_in_memory_are_bounded_and_older_ones_read_from_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stagecheck.service.runs.IN_MEMORY", 3)
    settings = load_settings({"keep_runs": "0", "history": str(tmp_path / "h.sqlite")}, {})
    queue = RunQueue(settings, [], tmp_path, {}, lambda run: None)
    for n in range(5):
        run_id = f"20260101T00000{n}Z-0000000{n}"
        run = GateRun(run_id, "local", ("@p1",), "", tmp_path / "runs" / run_id,
                      status=RunStatus.FINISHED, problem=f"run {n}")
        write_record(run.folder, run.record())
        queue.runs[run_id] = run
    queue._forget_old()  # keep_runs=0: every folder stays, but not every run in memory
    assert len(queue.runs) == 3 and len(list((tmp_path / "runs").iterdir())) == 5
    oldest = queue.get("20260101T000000Z-00000000")
    assert oldest is not None and oldest.problem == "run 0" and len(queue.runs) == 3
    assert queue.get("../../etc") is None and queue.get("20260101T000009Z-00000009") is None
    asyncio.run(queue.close())


def test_a_run_the_service_calls_not_judged_is_not_judged_in_the_history(tmp_path: Path) -> None:
    """A run whose report could not be written leaves only verdict.json: the history, where an
    older gate had recorded the GO it could not publish, says not judged as the service does."""
    history = History(tmp_path / "history.sqlite")
    history.start("20260101T000000Z-abcdef", "local", "2026-01-01T00:00:00+00:00", "@p1")
    history.close()
    with sqlite3.connect(tmp_path / "history.sqlite") as db:
        db.execute("UPDATE runs SET state = 'finished', verdict = 'GO', target_version = '1.0.0'")
    settings = load_settings({"history": str(tmp_path / "history.sqlite")}, {})
    queue = RunQueue(settings, [], tmp_path, {}, lambda run: None)
    run = GateRun("20260101T000000Z-00000000", "local", ("@p1",), "", tmp_path / "runs" / "r",
                  verdict={"run_id": "20260101T000000Z-abcdef", "decision": None},
                  problem="the report could not be written: OSError: No space left on device")
    assert run.not_judged == run.problem
    queue._withdraw(run)
    with sqlite3.connect(tmp_path / "history.sqlite") as db:
        assert db.execute("SELECT state, verdict FROM runs").fetchall() == [
            ("finished", "COULD NOT JUDGE")]
    assert History(tmp_path / "history.sqlite").tested_versions("local") == set()


def test_build_changed_only_when_both_versions_are_known_and_differ() -> None:
    def facts(before: str, after: str) -> RunFacts:
        return RunFacts("r", "", "", 0.0, "local", "", "", "", after, "@p1", False, False, [],
                        False, {}, target_version_at_start=before)

    changed = build_changed(facts("1.0.0", "1.0.1"))
    assert changed is not None and changed.decision == Decision.NOT_JUDGED
    assert changed.reason.startswith("the target changed during the run (1.0.0, then 1.0.1)")
    assert [build_changed(facts(a, b)) for a, b in (("1.0.0", "1.0.0"), ("", "1.0.0"),
                                                      ("1.0.0", ""))] == [None, None, None]


HANGING_GATE = """
import signal, sys, threading
from stagecheck.history.store import History
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a gate that cannot write its report in time
history = History(sys.argv[1])
history.start("20260101T000000Z-hanging", "local", "2026-01-01T00:00:00+00:00", "@p1")
history.close()
print("recorded", flush=True)
threading.Event().wait()
"""


def test_a_run_killed_past_its_grace_is_not_judged_in_the_history(tmp_path: Path) -> None:
    """A gate stopped at the deadline that writes nothing before it is killed leaves no run id
    with the service: its history row, found by its process, says not judged as the service does."""
    history = tmp_path / "history.sqlite"
    settings = load_settings({"history": str(history), "service_deadline": "3"}, {})
    finished: list[GateRun] = []
    queue = RunQueue(settings, [], tmp_path, os.environ, finished.append, grace=0.2)
    queue.command = lambda run: [sys.executable, "-c", HANGING_GATE, str(history)]  # type: ignore[method-assign]

    async def one_run() -> None:
        queue.submit("local", ("@p1",), "")
        await asyncio.wait_for(asyncio.gather(*queue.tasks), timeout=30)

    asyncio.run(one_run())
    (run,) = finished
    assert run.stopped.startswith("the run reached service_deadline (3 s)") and run.result is None
    assert run.exit_code == -signal.SIGKILL and (run.folder / "console.log").read_text() == "recorded\n"
    with sqlite3.connect(history) as db:
        assert db.execute("SELECT state, verdict FROM runs").fetchall() == [
            ("interrupted", "COULD NOT JUDGE")]


def test_old_run_folders_are_pruned_off_the_event_loop(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a large folder never holds up the service's answers: pruning after a run is done
    in a thread, not on the event loop, and still leaves only the newest keep_runs folders."""
    settings = load_settings({"history": str(tmp_path / "h.sqlite"), "keep_runs": "1"}, {})
    queue = RunQueue(settings, [], tmp_path, os.environ, lambda run: None)
    for n in range(3):
        old = GateRun(f"20200101T00000{n}Z-0000000{n}", "local", ("@p1",), "",
                      tmp_path / "runs" / f"20200101T00000{n}Z-0000000{n}",
                      status=RunStatus.FINISHED)
        write_record(old.folder, old.record())
    threads: list[bool] = []
    real = remove_folders

    def watched(*args: object) -> None:
        threads.append(threading.current_thread() is threading.main_thread())
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr("stagecheck.service.runs.remove_folders", watched)
    queue.command = lambda run: [sys.executable, "-c", "pass"]  # type: ignore[method-assign]

    async def one_run() -> str:
        run, _ = queue.submit("local", ("@p1",), "")
        await asyncio.wait_for(asyncio.gather(*queue.tasks), timeout=30)
        return run.id

    newest = asyncio.run(one_run())
    assert threads == [False]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [newest]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB filesystem (tmpfs) the test can fill; skipped where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_under_the_running_service_is_not_judged_and_it_recovers(
        small_disk: Path) -> None:
    """With the reports' filesystem full, the running service calls the run not judged (its
    sentence names the disk), never GO, keeps answering, and judges again once there is room."""
    service = start_service(small_disk)
    try:
        with service.client() as client:
            first = client.post("/runs", json={"tags": "@p1", "target": "local"})
            assert poll_until_finished(client, first.headers["location"])["outcome"] == "GO"
            free = os.statvfs(small_disk)
            filler = small_disk / "filler"
            filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 48 * 1024))
            full = client.post("/runs", json={"tags": "@p1", "target": "local"})
            refused = poll_until_finished(client, full.headers["location"])
            health = client.get("/health")
            filler.unlink()
            again = client.post("/runs", json={"tags": "@p1", "target": "local"})
            recovered = poll_until_finished(client, again.headers["location"])
    finally:
        stop_service(service)
    assert refused["outcome"] == "not judged" and refused["decision"] == "COULD NOT JUDGE"
    assert refused["exit_code"] == 2 and "No space left on device" in refused["reason"]
    assert refused["report_url"] is None and health.status_code == 200
    assert recovered["outcome"] == "GO"
