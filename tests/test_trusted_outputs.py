"""Outputs a pipeline can trust: `reports/latest` and `latest/verdict.json` never describe an
older run than the verdict line just printed (a run whose report cannot be written, or that
ends before its report, leaves a verdict.json saying it was not judged); a folder at `latest`
is someone's and is never deleted, nor is any folder the gate did not write; and the password
of `report_base_url` appears in no output. Real behave runs, real files, temporary folders."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from stagecheck.outputs.reports import prune_runs
from tests.behave_run import FAST, ROOT, run_behave
from tests.test_hostile import encoded, every_output
from tests.test_pipeline_outputs import Sink

P1 = ("--tags=@p1", "--name", "reports itself up", *FAST)  # one quick GO

# behave run as `python -m behave` does, after one fault is put in place in its own process.
DRIVER = """import sys
sys.path.insert(0, {root!r})
{fault}
from behave.__main__ import main
sys.exit(main(sys.argv[1:]))
"""
RENDER_FAILS = """import stagecheck.outputs.reports as reports
def render_all(*_):
    raise OSError(28, "No space left on device")
reports.render_all = render_all"""
DISK_FULL = """import errno, pathlib
real = pathlib.Path.write_text
def write_text(self, *args, **kwargs):
    if "reports" in self.parts:
        raise OSError(errno.ENOSPC, "No space left on device")
    return real(self, *args, **kwargs)
pathlib.Path.write_text = write_text"""
TARGET_FAILS = """import stagecheck.gate.fixtures as fixtures
def open_target(*_args, **_kwargs):
    raise RuntimeError("the stand-in could not start")
fixtures.open_target = open_target"""


def behave_with(tmp_path: Path, fault: str, *args: str) -> subprocess.CompletedProcess[str]:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(root=str(ROOT), fault=fault))
    return subprocess.run([sys.executable, str(driver), "--no-capture", "-f", "plain", *args,
                           "-D", f"report_dir={tmp_path / 'reports'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def last_line(run: subprocess.CompletedProcess[str]) -> str:
    return run.stdout.strip().splitlines()[-1]


def latest_verdict(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "verdict.json").read_text())


def first_go(tmp_path: Path) -> str:
    """A GO run, so that `latest` has an older run to describe; its id."""
    assert run_behave(tmp_path, *P1).returncode == 0
    return latest_verdict(tmp_path)["run_id"]


def test_a_report_that_cannot_be_rendered_leaves_latest_saying_not_judged(tmp_path: Path) -> None:
    older = first_go(tmp_path)
    metrics = tmp_path / "metrics.prom"
    run = behave_with(tmp_path, RENDER_FAILS, *P1, "-D", f"metrics_file={metrics}")
    assert not metrics.exists()  # no output speaks the verdict of a run that was not judged
    assert run.returncode == 2, run.stderr[-2000:]
    assert last_line(run).endswith("exit 2") and "No space left on device" in last_line(run)
    found = latest_verdict(tmp_path)
    assert found["run_id"] != older
    assert os.readlink(tmp_path / "reports" / "latest") == found["run_id"]
    assert found["decision"] is None and found["exit_code"] == 2
    assert found["reason"].startswith("the report could not be written: OSError")
    assert found["reports"] == {} and found["report_url"] == ""
    assert found["counts"]["selected"] == 1 and found["interrupted"] is False
    assert sorted(p.name for p in (tmp_path / "reports" / found["run_id"]).iterdir()) == [
        "verdict.json"]
    assert (tmp_path / "reports" / older / "report.md").is_file()  # the older run, untouched
    with contextlib.closing(sqlite3.connect(tmp_path / "reports" / "history.sqlite")) as db:
        state = db.execute("SELECT state, verdict FROM runs WHERE run_id = ?",
                           (found["run_id"],)).fetchone()
    assert state == ("interrupted", None)  # the history agrees: no finished GO for this run


def test_a_full_disk_removes_latest_rather_than_leave_an_older_go(tmp_path: Path) -> None:
    older = first_go(tmp_path)
    run = behave_with(tmp_path, DISK_FULL, *P1)
    assert run.returncode == 2, run.stderr[-2000:]
    latest = tmp_path / "reports" / "latest"
    assert not latest.exists() and not latest.is_symlink()
    assert (f"stagecheck: {latest} was removed, as it showed an older run and this run's "
            "verdict could not be written there: No space left on device") in run.stderr
    assert (tmp_path / "reports" / older / "verdict.json").is_file()
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")]


def test_a_run_that_ends_before_its_report_leaves_latest_saying_not_judged(tmp_path: Path) -> None:
    older = first_go(tmp_path)
    run = behave_with(tmp_path, TARGET_FAILS, *P1)
    assert run.returncode == 2, run.stderr[-2000:]
    assert last_line(run) == ("Release gate: could not judge · the run ended before its report "
                              "· exit 2")
    found = latest_verdict(tmp_path)
    assert found["run_id"] != older and found["decision"] is None and found["exit_code"] == 2
    assert found["reason"] == "the run ended before its report"
    assert found["counts"] is None and found["revenue_at_risk"] is None


def test_a_folder_at_latest_is_left_as_it_is_and_the_verdict_stands(tmp_path: Path) -> None:
    latest = tmp_path / "reports" / "latest"
    latest.mkdir(parents=True)
    (latest / "verdict.json").write_text('{"decision": "NO-GO", "mine": true}\n')
    (latest / "notes.txt").write_text("someone's notes\n")
    run = run_behave(tmp_path, *P1)
    assert run.returncode == 0, run.stdout[-2000:]
    assert sorted(p.name for p in latest.iterdir()) == ["notes.txt", "verdict.json"]
    assert json.loads((latest / "verdict.json").read_text()) == {"decision": "NO-GO", "mine": True}
    folders = [p for p in (tmp_path / "reports").iterdir() if p.name[0].isdigit()]
    assert len(folders) == 1 and (folders[0] / "verdict.json").is_file()
    assert (f"stagecheck: {latest} is a folder, not the gate's link, so it was left as it is and "
            f"does not show this run: its report is in {folders[0]}/") in run.stderr
    assert f"report {folders[0] / 'report.md'} · exit 0" in run.stdout.strip().splitlines()[-1]


def test_a_folder_at_latest_is_kept_when_the_report_cannot_be_written(tmp_path: Path) -> None:
    latest = tmp_path / "reports" / "latest"
    latest.mkdir(parents=True)
    (latest / "notes.txt").write_text("someone's notes\n")
    run = behave_with(tmp_path, RENDER_FAILS, *P1)
    assert run.returncode == 2
    assert [p.name for p in latest.iterdir()] == ["notes.txt"]
    assert "is a folder, not the gate's link, so it was left as it is" in run.stderr


def gate_folder(root: Path, run_id: str, *extra: str) -> Path:
    folder = root / run_id
    folder.mkdir(parents=True)
    for name in ("report.md", "report.html", "results.json", "verdict.json", *extra):
        (folder / name).write_text("{}")
    return folder


def test_pruning_removes_only_what_the_gate_wrote(tmp_path: Path, capfd) -> None:
    root = tmp_path / "reports"
    old = gate_folder(root, "20240101T000000Z-aaaaaa")
    alone = root / "20240101T000001Z-bbbbbb"  # a run whose report could not be written
    alone.mkdir(parents=True)
    (alone / "verdict.json").write_text("{}")
    with_notes = gate_folder(root, "20240101T000002Z-cccccc", "notes.txt")
    with_folder = gate_folder(root, "20240101T000003Z-dddddd")
    (with_folder / "attachments").mkdir()
    linked = root / "20240101T000004Z-eeeeee"
    linked.symlink_to(tmp_path, target_is_directory=True)
    newest = gate_folder(root, "20240102T000000Z-ffffff")
    (root / "latest").symlink_to(newest.name)
    assert prune_runs(root, keep=1) == [alone.name, old.name]
    assert not old.exists() and not alone.exists()
    assert (with_notes / "notes.txt").is_file() and (with_folder / "attachments").is_dir()
    assert linked.is_symlink() and newest.is_dir()
    said = capfd.readouterr().err
    assert said.startswith("stagecheck: not pruned, as they hold files the gate did not write: ")
    assert with_notes.name in said and with_folder.name in said


SECRET = "s3cr3t-value"


def test_the_report_base_url_password_appears_in_no_output(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    sink = Sink()
    try:
        run = run_behave(tmp_path, "--tags=@p1", "-D", "standin_fault=health-down",
                         "-D", f"report_base_url=https://u:{SECRET}@example.com/r",
                         "-D", f"notify={sink.url}/hook", *FAST,
                         env={"GITHUB_STEP_SUMMARY": str(summary)})
    finally:
        sink.server.shutdown()
        sink.server.server_close()
    assert run.returncode == 1, run.stdout[-2000:]
    found = latest_verdict(tmp_path)
    link = f"https://u:[redacted]@example.com/r/{found['run_id']}/report.html"
    assert found["report_url"] == link
    assert run.stdout.strip().splitlines()[-1].endswith(f"report {link} · exit 1")
    assert link in summary.read_text()
    assert [m["text"].splitlines()[-1] for m in sink.messages()] == [f"Report: {link}"]
    outputs = every_output(tmp_path, run)
    outputs["notifications"] = "\n".join(body.decode() for _, body in sink.received)
    assert {"console", "summary.md", "reports/history.sqlite", "history (rows)"} <= set(outputs)
    for where, text in outputs.items():
        for encoding, form in encoded(SECRET).items():
            assert form not in text, f"the password ({encoding}) leaked into {where}"


@pytest.mark.parametrize("mistake", [("-D", "insecure_tls=maybe"), ("--tags=@P1",)],
                         ids=["a bad setting", "a selection mistake"])
def test_a_run_refused_before_it_starts_leaves_latest_saying_not_judged(
        tmp_path: Path, mistake: tuple[str, ...]) -> None:
    """Nothing runs and nothing is reported, but `latest` no longer shows the older GO: it
    points at this run's verdict.json, not judged, with the refusal's sentence."""
    older = first_go(tmp_path)
    run = run_behave(tmp_path, *FAST, *mistake)
    assert run.returncode == 2, run.stderr[-2000:]
    (sentence,) = [line for line in run.stderr.splitlines() if line.startswith("stagecheck: ")]
    found = latest_verdict(tmp_path)
    assert found["run_id"] != older and found["decision"] is None and found["exit_code"] == 2
    assert found["reason"] == sentence.removeprefix("stagecheck: ")
    assert sorted(p.name for p in (tmp_path / "reports" / found["run_id"]).iterdir()) == [
        "verdict.json"]
    assert (tmp_path / "reports" / older / "report.md").is_file()


def test_stagecheck_gates_own_refusal_leaves_latest_saying_not_judged(tmp_path: Path) -> None:
    """A tag expression behave cannot parse, refused by `stagecheck gate`: latest no longer
    shows the older GO."""
    older = first_go(tmp_path)
    run = subprocess.run([sys.executable, "-m", "stagecheck", "gate", "--tags=@p1 and",
                          "-D", f"report_dir={tmp_path / 'reports'}"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 2, run.stdout[-2000:]
    found = latest_verdict(tmp_path)
    assert found["run_id"] != older and found["decision"] is None and found["exit_code"] == 2
    assert found["reason"].startswith("the tag expression does not parse")
