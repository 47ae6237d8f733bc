"""Benchmarks that cannot rot: every script in bench/ runs as shipped, at its smallest size, and
prints its figures. (Their numbers are for people to read; no time is asserted here.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.behave_run import ROOT

SMALLEST = {
    "gate.py": (["--repeat", "1"], "gate / import floor"),
    "report.py": (["--scenarios", "100", "--repeat", "1"], "100 scenarios, median of 1"),
    "sessions.py": (["--users", "20", "--repeat", "1"], "N=20:"),
    "shards.py": (["--shards", "2", "--repeat", "1"], "equals the single one in every run: True"),
    "stability.py": (["--runs", "1"], "1 runs, 0 failed"),
    "workers.py": (["--smallest"], "embedded stand-in, --tags=@p1; 1 runs"),
}


def test_every_benchmark_is_run_here() -> None:
    assert sorted(SMALLEST) == sorted(p.name for p in (ROOT / "bench").glob("*.py"))


@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_the_benchmark_runs_as_shipped(script: str) -> None:
    args, says = SMALLEST[script]
    ran = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert says in ran.stdout, ran.stdout[-3000:]
