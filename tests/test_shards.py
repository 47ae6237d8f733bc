"""Sharded runs: `-D shard=K/N` splits the selection the same way on every machine, and
`stagecheck merge` turns the shards' results into the verdict one process would have given."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from stagecheck.gate.selection import assign
from stagecheck.report.merge import merge as merge_results
from stagecheck.vocabulary import Decision
from tests.behave_run import FAST, ROOT, run_behave


def merge(tmp_path: Path, *folders: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stagecheck", "merge", *map(str, folders),
                           "-D", f"report_dir={tmp_path / 'merged'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def results(folder: Path) -> dict:
    return json.loads((folder / "latest" / "results.json").read_text())


def shards(tmp_path: Path, count: int, *args: str, only: tuple[int, ...] = ()) -> list[Path]:
    folders = []
    for index in only or range(1, count + 1):
        folder = tmp_path / f"shard{index}"
        folder.mkdir()
        run_behave(folder, "--tags=@p1", "-D", f"shard={index}/{count}", *FAST, *args)
        folders.append(folder / "reports")
    return folders


def test_the_split_is_deterministic_balanced_and_complete() -> None:
    keys = [f"f / s{i}" for i in range(10)]
    durations = {key: float(i) for i, key in enumerate(keys)}  # 0 … 9 s
    split = assign(keys, 3, durations)
    assert split == assign(list(reversed(keys)), 3, dict(reversed(durations.items())))
    assert set(split) == set(keys) and set(split.values()) == {1, 2, 3}
    loads = [sum(durations[k] for k, shard in split.items() if shard == i) for i in (1, 2, 3)]
    assert sorted(loads) == [14.0, 15.0, 16.0]  # 45 s of work, longest first: 15 ± 1 s each
    even = assign(keys, 3, {})
    assert sorted(list(even.values()).count(i) for i in (1, 2, 3)) == [3, 3, 4]


@pytest.mark.parametrize("fault", ["", "missing-mcp-tables"])
def test_merged_shards_give_the_single_process_verdict(tmp_path: Path, fault: str) -> None:
    faults = ["-D", f"standin_fault={fault}"] if fault else []
    (tmp_path / "single").mkdir()
    single = run_behave(tmp_path / "single", "--tags=@p1", *FAST, *faults)
    whole = results(tmp_path / "single" / "reports")
    parts = shards(tmp_path, 2, *faults)
    for part in parts:
        assert 0 < len(results(part)["scenarios"]) < 15  # each ran a share, not everything
    merged = merge(tmp_path, *parts)
    assert merged.returncode == single.returncode, merged.stdout + merged.stderr
    combined = results(tmp_path / "merged")
    assert combined["verdict"]["decision"] == whole["verdict"]["decision"]
    assert combined["impact"]["revenue_at_risk"] == whole["impact"]["revenue_at_risk"]
    assert sorted((s["name"], s["status"]) for s in combined["scenarios"]) == sorted(
        (s["name"], s["status"]) for s in whole["scenarios"])
    assert combined["merged_from"] == [results(p)["facts"]["run_id"] for p in parts]
    with sqlite3.connect(tmp_path / "merged" / "history.sqlite") as db:  # the merge is recorded
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert not (parts[0] / "history.sqlite").exists()  # a shard is part of a run: no history
    # A shard that began on another build than the one every shard ended on: no verdict.
    first = sorted(parts, key=lambda p: results(p)["facts"]["started_at"])[0]
    data = results(first)
    data["facts"]["target_version_at_start"] = "0.9.0"
    (first / "latest" / "results.json").write_text(json.dumps(data))
    changed = merge_results(parts).verdict
    assert changed.decision == Decision.NOT_JUDGED
    assert changed.reason.startswith("the target changed during the run (0.9.0, then 1.0.0)")


def test_a_stopped_shard_and_a_missing_shard_leave_their_scenarios_unverified(tmp_path: Path) -> None:
    parts = shards(tmp_path, 3, "-D", "standin_fault=missing-mcp-tables", "--stop", only=(1, 2))
    merged = merge(tmp_path, *parts)
    assert merged.returncode == 1  # NO-GO: a P1 failure, and P1 scenarios not verified
    combined = results(tmp_path / "merged")
    assert len(combined["scenarios"]) == 15
    missing = [s for s in combined["scenarios"] if "results of the shard that runs it were not "
               "merged" in s["key_finding"]]
    assert missing and all(s["status"] == "untested" for s in missing)
    assert combined["verdict"]["decision"] == "NO-GO"


def test_shards_of_different_runs_or_the_same_shard_twice_do_not_merge(tmp_path: Path) -> None:
    (one,) = shards(tmp_path, 2, only=(1,))
    other = tmp_path / "other"
    other.mkdir()
    run_behave(other, "--tags=@p1", "-D", "shard=2/2", "-D", "standin_fault=health-down", *FAST)
    different = merge(tmp_path, one, other / "reports")
    assert different.returncode == 2 and "the shards differ in target" in different.stderr
    twice = merge(tmp_path, one, one)
    assert twice.returncode == 2 and "shard 1/2 is given twice" in twice.stderr
    whole = tmp_path / "whole"
    whole.mkdir()
    run_behave(whole, "--tags=@p1", "--name", "reports itself up", *FAST)
    unsharded = merge(tmp_path, one, whole / "reports")
    assert unsharded.returncode == 2 and "must hold a shard's results" in unsharded.stderr
    for result in (different, twice, unsharded):
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("spec", ["3/2", "0/2", "a/b", "2", "1/0"])
def test_a_bad_shard_spec_stops_before_anything_runs(tmp_path: Path, spec: str) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", f"shard={spec}")
    assert run.returncode == 2 and "setting shard must be K/N with 1 <= K <= N" in run.stderr
