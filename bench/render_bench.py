"""Benchmark: rendering report.md, report.html and results.json for a 10,000-scenario run.

Run by hand: `python bench/render_bench.py [--scenarios 10000] [--repeat 3]`. Goal: all three
formats in under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import time

from stagecheck.report.diagnosis import diagnose
from stagecheck.report.impact import decide, roll_up
from stagecheck.report.model import SCHEMA_VERSION, RunFacts, RunResult, ScenarioResult, StepResult
from stagecheck.report.render import render

AREAS = ["agents", "chat", "auth", "platform", "billing"]


def synthetic_run(count: int) -> RunResult:
    scenarios = []
    for i in range(count):
        status = "failed" if i % 97 == 0 else "untested" if i % 89 == 0 else "passed"
        exchange = {"channel": "http", "action": "GET", "url": f"http://127.0.0.1:8000/api/x/{i}",
                    "status": 500 if status == "failed" else 200, "elapsed_s": 0.01,
                    "request": "", "response": '{"ok": true}', "error": "", "at": 0.0}
        scenarios.append(ScenarioResult(
            name=f"Scenario {i}", feature=f"Feature {i // 50}", location=f"f{i // 50}.feature:{i}",
            tags=["p1"], priority=1 + i % 6, revenue=[120e3, 80e3, 50e3, 30e3, 10e3, 5e3][i % 6],
            area=AREAS[i % len(AREAS)], status=status, duration_s=0.05,
            steps=[StepResult("Given", "a step", status if status != "untested" else "untested",
                              0.01, "ASSERT FAILED: boom" if status == "failed" else "")],
            exchanges=[exchange] * 3, assertions=4,
            key_finding="500 Internal Server Error on GET /api/x" if status == "failed" else "ok",
            classification="product defect" if status == "failed" else ""))
    facts = RunFacts("bench", "2026-01-01T00:00:00+00:00", "2026-01-01T00:10:00+00:00", 600.0,
                     "local", "http://127.0.0.1:8000", "http://127.0.0.1:8000",
                     "ws://127.0.0.1:8000/ws", "1.0.0", "@p1", False, False, [], False,
                     {"python": "3", "stagecheck": "0", "behave": "1.3"})
    return RunResult(SCHEMA_VERSION, facts, scenarios, roll_up(scenarios), decide(scenarios),
                     diagnose(scenarios, None, None, {"rerun": "behave", "backend": "x"}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = synthetic_run(args.scenarios)
    render(result, "md")  # warm the template cache, as a second run in the same process would
    totals = []
    for _ in range(args.repeat):
        timings = {}
        for fmt in ("md", "html", "json"):
            started = time.perf_counter()
            size = len(render(result, fmt))
            timings[fmt] = (time.perf_counter() - started, size)
        total = sum(t for t, _ in timings.values())
        totals.append(total)
        print("  ".join(f"{fmt}: {t:.3f} s ({size / 1e6:.1f} MB)" for fmt, (t, size) in timings.items())
              + f"  all three: {total:.3f} s")
    print(f"{args.scenarios} scenarios: median {statistics.median(totals):.3f} s for all three formats")


if __name__ == "__main__":
    main()
