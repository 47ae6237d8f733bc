"""The whole gate as one process and as N shards run side by side, merged: wall times, the ratio,
and the merged verdict against the single one. With --latency the stand-in answers every HTTP
request that much later, as a remote staging would, and N shards should approach 1/N of the time.

    python bench/shards.py --shards 4 --latency 0.05 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def behave(base: str, key: str, report_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "behave", "-f", "null", "-D", "target=staging",
         "-D", f"base_url={base}", "-D", "allow_destructive=true", "-D", f"report_dir={report_dir}",
         *extra], cwd=ROOT, env={**os.environ, "E2E_OAUTH_SIMULATION_KEY": key},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def verdict(folder: Path) -> tuple[str, float]:
    found = json.loads((folder / "latest" / "verdict.json").read_text())
    return found["decision"], found["revenue_at_risk"]


def start_standin(key: str, state: dict) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m standin` on a free loopback port, its state set (latency, agent runs, faults)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    standin = subprocess.Popen([sys.executable, "-m", "standin", "--port", str(port)], cwd=ROOT,
                               env={**os.environ, "E2E_OAUTH_SIMULATION_KEY": key},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                standin.kill()
                raise SystemExit("the stand-in did not start") from None
            time.sleep(0.05)
    httpx.post(f"{base}/_standin/state", json=state, headers={"X-E2E-Bypass-Key": key},
               timeout=5).raise_for_status()
    return standin, base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tags", default="@p1")
    parser.add_argument("--balanced", action="store_true",
                        help="balance the shards by the single run's durations (shard_timings)")
    args = parser.parse_args()
    key = secrets.token_urlsafe(16)
    standin, base = start_standin(key, {"latency_s": args.latency})
    try:
        singles, sharded, agree = [], [], True
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                started = time.perf_counter()
                behave(base, key, folder / "one", f"--tags={args.tags}").wait(600)
                singles.append(time.perf_counter() - started)
                started = time.perf_counter()
                timings = (["-D", f"shard_timings={folder / 'one' / 'latest' / 'results.json'}"]
                           if args.balanced else [])
                runs = [behave(base, key, folder / f"s{k}", f"--tags={args.tags}",
                               "-D", f"shard={k}/{args.shards}", *timings)
                        for k in range(1, args.shards + 1)]
                for run in runs:
                    run.wait(600)
                subprocess.run([sys.executable, "-m", "stagecheck", "merge",
                                *(str(folder / f"s{k}") for k in range(1, args.shards + 1)),
                                "-D", f"report_dir={folder / 'merged'}"], cwd=ROOT, check=False,
                               stdout=subprocess.DEVNULL)
                sharded.append(time.perf_counter() - started)
                agree &= verdict(folder / "one") == verdict(folder / "merged")
                one, merged = verdict(folder / "one"), verdict(folder / "merged")
        single, split = statistics.median(singles), statistics.median(sharded)
        split_by = "the single run's durations" if args.balanced else "scenario count"
        print(f"stand-in latency {args.latency:g} s per HTTP answer, shards balanced by "
              f"{split_by}, {args.repeat} runs, medians:")
        print(f"  1 process:               {single:.2f} s   verdict {one}")
        print(f"  {args.shards} shards + merge:      {split:.2f} s   verdict {merged}")
        print(f"  ratio sharded / single:  {split / single:.2f}  (ideal {1 / args.shards:.2f})")
        print(f"  merged verdict equals the single one in every run: {agree}")
    finally:
        standin.terminate()
        standin.wait(10)


if __name__ == "__main__":
    main()
