"""behavex's parallel workers: each of its behave runs is a part of the run (it says -D worker_id
and runs in behavex's pool), and `stagecheck merge` of their report folder gives the verdict one
plain behave run gives."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.behave_run import FAST, ROOT, run_behave

pytestmark = pytest.mark.skipif(importlib.util.find_spec("behavex") is None,
                                reason="behavex is not installed: pip install behavex")


def behavex(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # behavex points TEMP at <output>/temp, where multiprocessing puts its socket: keep it short.
    output = tempfile.mkdtemp(prefix="bx", dir="/tmp")
    try:
        return subprocess.run([sys.executable, "-m", "behavex", "features",
                               "--parallel-processes", "2", "-o", output, "-D",
                               f"report_dir={tmp_path / 'parts'}", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(output, ignore_errors=True)


def merge(tmp_path: Path, *folders: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stagecheck", "merge", *map(str, folders),
                           "-D", f"report_dir={tmp_path / 'merged'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def results(folder: Path) -> dict:
    return json.loads((folder / "latest" / "results.json").read_text())


@pytest.mark.parametrize("fault", ["", "missing-mcp-tables"])
def test_behavex_workers_merge_into_the_plain_runs_verdict(tmp_path: Path, fault: str) -> None:
    faults = ["-D", f"standin_fault={fault}"] if fault else []
    (tmp_path / "plain").mkdir()
    plain = run_behave(tmp_path / "plain", "--tags=@p1", *FAST, *faults)
    whole = results(tmp_path / "plain" / "reports")
    workers = behavex(tmp_path, "-t", "@p1", *FAST, *faults)
    # behavex's workers print at once: a line may run into another, so count the lines' words.
    lines = workers.stdout.split("Release gate")[1:]
    assert len(lines) > 2 and all(line.startswith(" (a part of the selection, partial)")
                                  for line in lines), workers.stdout[-3000:] + workers.stderr[-3000:]
    merged = merge(tmp_path, tmp_path / "parts")
    assert merged.returncode == plain.returncode, merged.stdout + merged.stderr
    combined = results(tmp_path / "merged")
    assert combined["verdict"] == whole["verdict"]
    assert combined["impact"]["revenue_at_risk"] == whole["impact"]["revenue_at_risk"]
    assert sorted((s["name"], s["status"]) for s in combined["scenarios"]) == sorted(
        (s["name"], s["status"]) for s in whole["scenarios"])
    assert len(combined["merged_from"]) == len(lines)
    if not fault:  # the same part twice would count its scenarios twice: refused
        part = next(p for p in (tmp_path / "parts").iterdir() if p.is_dir() and not p.is_symlink())
        shutil.copytree(part, tmp_path / "parts" / "zz-copy")
        again = merge(tmp_path, tmp_path / "parts")
        assert again.returncode == 2 and "is given twice" in again.stderr


def test_a_lone_colon_tag_works_in_parentheses(tmp_path: Path) -> None:
    # behavex 4.6.8 reads a lone `@area:chat` in its old tag syntax and fails; in parentheses it
    # is a tag expression, as the README shows.
    workers = behavex(tmp_path, "-t", "(@area:chat)", *FAST)
    assert workers.returncode == 0, workers.stdout[-3000:] + workers.stderr[-3000:]
    merged = merge(tmp_path, tmp_path / "parts")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    combined = results(tmp_path / "merged")
    (tmp_path / "plain").mkdir()
    run_behave(tmp_path / "plain", "--tags=@area:chat", *FAST)
    whole = results(tmp_path / "plain" / "reports")
    assert {s["area"] for s in combined["scenarios"]} == {"chat"}
    assert sorted((s["name"], s["status"]) for s in combined["scenarios"]) == sorted(
        (s["name"], s["status"]) for s in whole["scenarios"])


def test_behavex_leaves_nothing_in_the_checkout_that_git_would_see() -> None:
    """behavex writes output/ unless given -o; the README gives -o under reports/, and both
    folders are ignored, so `git status` stays clean after the README's commands."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("output/index.html", "reports/behavex/report.html", "reports/parts/x/results.json"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, timeout=30)
        assert ignored.returncode == 0, f"{path} would show in git status"
    readme = (ROOT / "README.md").read_text()
    command = readme[readme.index("behavex features -t @p1"):].split("```")[0]
    assert "-o reports/behavex" in command and "report_dir=reports/parts" in command
