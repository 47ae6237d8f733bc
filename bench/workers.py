"""The whole gate (without the load tier) at 1, 2, 4 and 8 workers (`-D workers=N`) against a
stand-in that answers like a slow staging: every HTTP answer late by --latency, every agent run
over a live session lasting --agent-run seconds; with --silent-agents, agent runs that send
nothing (the platform's real behaviour at cc536e0b5), each agent scenario waiting out its
event timeout. Wall times against the longest single scenario of the same run (workers=1) plus
one start-up (a run of one quick scenario), and each verdict against the serial one.

    python bench/workers.py --latency 0.2 --agent-run 3 --repeat 3
    python bench/workers.py --silent-agents --repeat 3
    python bench/workers.py --embedded --repeat 5  # the clean embedded stand-in, against workers=1
    python bench/workers.py --smallest        # what the test runs: P1, 1 and 2 workers, once, both
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shards import ROOT, start_standin

QUICK = "The backend reports itself up within its budget"


def gate(base: str, key: str, folder: Path, *extra: str) -> float:
    """One run of the gate against the stand-in as a staging; its wall time."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "behave", "-f", "null", "-D", "target=staging",
                    "-D", f"base_url={base}", "-D", f"report_dir={folder}", *extra], cwd=ROOT,
                   env={**os.environ, "E2E_OAUTH_SIMULATION_KEY": key},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900, check=False)
    return time.perf_counter() - started


def results(folder: Path) -> dict:
    return json.loads((folder / "latest" / "results.json").read_text())


def statuses(folder: Path) -> dict[str, str]:
    return {f"{s['feature']} / {s['name']}": s["status"] for s in results(folder)["scenarios"]}


def embedded(workers: list[int], tags: str, repeat: int) -> None:
    """The gate against the embedded stand-in (as `behave` runs it) at each worker count, in
    turns, against workers=1; the workers that started, from the console."""
    walls: dict[int, list[float]] = {n: [] for n in workers}
    started: dict[int, int] = dict.fromkeys(workers, 0)
    agree = True
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            for n in workers:
                begun = time.perf_counter()
                ran = subprocess.run([sys.executable, "-m", "behave", "-f", "null",
                                      f"--tags={tags}", "-D", f"workers={n}",
                                      "-D", f"report_dir={tmp}/w{n}"], cwd=ROOT,
                                     capture_output=True, text=True, timeout=900, check=False)
                walls[n].append(time.perf_counter() - begun)
                started[n] += ran.stderr.count(" started")
            agree &= all(statuses(Path(tmp) / f"w{n}") == statuses(Path(tmp) / f"w{workers[0]}")
                         for n in workers)
    base = statistics.median(walls[workers[0]])
    print(f"embedded stand-in, --tags={tags}; {repeat} runs, medians")
    print(f"  workers   wall s   ratio to workers={workers[0]}   workers started")
    for n in workers:
        wall = statistics.median(walls[n])
        print(f"  {n:>7}   {wall:6.2f}   {wall / base:5.2f}   {started[n]:>5}")
    print(f"  every scenario's status equal at every worker count: {agree}")
    if not agree:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added to every answer")
    parser.add_argument("--agent-run", type=float, default=3.0, help="seconds an agent run lasts")
    parser.add_argument("--silent-agents", action="store_true",
                        help="agent runs send nothing (each agent scenario waits its timeout)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tags", default="not @load")
    parser.add_argument("--smallest", action="store_true", help="P1, 1 and 2 workers, once")
    parser.add_argument("--embedded", action="store_true",
                        help="the embedded stand-in as `behave` starts it, against workers=1")
    args = parser.parse_args()
    if args.embedded:
        embedded(args.workers, args.tags, args.repeat)
        return
    if args.smallest:
        args.workers, args.tags, args.repeat, args.latency, args.agent_run = [1, 2], "@p1", 1, 0.01, 0.1
    key = secrets.token_urlsafe(16)
    state = {"latency_s": args.latency, "agent_run_s": args.agent_run,
             "faults": ["agent-silent-failure"] if args.silent_agents else []}
    extra = ["-D", "ws_event_timeout=5"] if args.silent_agents else []
    standin, base = start_standin(key, state)
    try:
        walls: dict[int, list[float]] = {n: [] for n in args.workers}
        longest, startup, agree = [], [], True
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                startup.append(gate(base, key, folder / "quick", f"--name={QUICK}", *extra)
                               - results(folder / "quick")["scenarios"][0]["duration_s"])
                for n in args.workers:
                    walls[n].append(gate(base, key, folder / f"w{n}", f"--tags={args.tags}",
                                         "-D", f"workers={n}", *extra))
                serial = folder / f"w{args.workers[0]}"
                longest.append(max(s["duration_s"] for s in results(serial)["scenarios"]))
                agree &= all(statuses(folder / f"w{n}") == statuses(serial)
                             for n in args.workers)
        floor = statistics.median(longest) + statistics.median(startup)
        print(f"stand-in: {args.latency:g} s per HTTP answer, agent runs {args.agent_run:g} s"
              f"{', silent agents' if args.silent_agents else ''}; --tags={args.tags}; "
              f"{args.repeat} runs, medians")
        print(f"  longest scenario {statistics.median(longest):.2f} s + one start-up "
              f"{statistics.median(startup):.2f} s = {floor:.2f} s")
        print("  workers   wall s   ratio to longest + start-up")
        for n in args.workers:
            wall = statistics.median(walls[n])
            print(f"  {n:>7}   {wall:6.2f}   {wall / floor:5.2f}")
        print(f"  every scenario's status equal at every worker count: {agree}")
        if not agree:
            raise SystemExit(1)
        if args.smallest:
            embedded(args.workers, args.tags, args.repeat)
    finally:
        standin.terminate()
        standin.wait(10)


if __name__ == "__main__":
    main()
