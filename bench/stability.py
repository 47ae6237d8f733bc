"""Stability: N consecutive P1 runs against the clean embedded stand-in; every one must be GO.

Run by hand: `python bench/stability.py [--runs 30]`. Prints each run's verdict and wall time,
then the count of failures (goal: zero).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    failures, walls = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(1, args.runs + 1):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "behave", "--tags=@p1", "-f", "null",
                                   "-D", f"report_dir={tmp}"], cwd=ROOT, capture_output=True,
                                  text=True, timeout=300)
            walls.append(time.perf_counter() - started)
            verdict = json.loads((Path(tmp) / "latest" / "results.json").read_text())["verdict"]
            ok = done.returncode == 0 and verdict["decision"] == "GO"
            failures += not ok
            print(f"run {number:2d}: {verdict['decision']:7s} exit {done.returncode} "
                  f"in {walls[-1]:.2f} s" + ("" if ok else f"  <- {verdict['reason']}"))
    print(f"{args.runs} runs, {failures} failed; wall time median {statistics.median(walls):.2f} s, "
          f"max {max(walls):.2f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
