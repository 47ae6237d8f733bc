"""Benchmark: N users signed in and each welcomed on a live session at the same time, through
the step library (`signed_in_users`, `RunState.open_all_and_welcome`, every exchange recorded)
against a raw httpx + websockets script doing the same, on the same stand-in.

Run by hand: `python bench/sessions.py [--users 500 2000 10000] [--repeat 5]`. The stand-in runs
in its own process (`python -m standin --backlog`), so that neither side shares its interpreter;
each measurement is a fresh process with its soft descriptor limit raised to the hard one.
Sign-ins go 16 at a time in threads on one HTTP client on both sides. Goals: library <= 1.2x
raw at every N, all welcomed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16
TIMEOUT_S = 60.0


def emails(count: int) -> list[str]:
    return [f"release-gate-{i}@e2e.test" for i in range(1, count + 1)]


def library(base: str, ws_url: str, key: str, count: int) -> tuple[float, int]:
    from stagecheck.client.exchanges import ExchangeLog
    from stagecheck.client.http import HttpClient
    from stagecheck.client.redact import Redactor
    from stagecheck.config.settings import Settings
    from stagecheck.config.target import Target
    from stagecheck.platform.users import signed_in_users
    from stagecheck.run.record import RunRecorder
    from stagecheck.run.world import RunState, Sessions

    log = ExchangeLog(Redactor((key,)))
    http = HttpClient(log, TIMEOUT_S, TIMEOUT_S, verify=False)
    target = Target("staging", base, base, ws_url, bypass_key=key)
    loop = asyncio.new_event_loop()
    run = RunState(Settings(ws_event_timeout=TIMEOUT_S, connect_timeout=TIMEOUT_S), target, http,
                   loop, RunRecorder())
    sessions = Sessions()
    started = time.perf_counter()
    users = signed_in_users(http, target, emails(count), CONCURRENCY)
    outcomes = run.open_all_and_welcome([user.token for user in users], log, sessions.track)
    elapsed = time.perf_counter() - started
    welcomed = sum(welcome.seconds is not None for _, welcome in outcomes)

    async def close_all() -> None:
        await asyncio.gather(*(session.close_async() for session in sessions.to_close))

    loop.run_until_complete(close_all())
    http.close()
    return elapsed, welcomed


def raw(base: str, ws_url: str, key: str, count: int) -> tuple[float, int]:
    """The same by hand: sign-ins 16 at a time in threads on one httpx client (as the library
    does), then every session opened at once with websockets, each waiting for its welcome."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from websockets.asyncio.client import ClientConnection, connect

    def sign_in(http: httpx.Client, email: str) -> str:
        answer = http.post(f"{base}/auth/e2e/test-auth", headers={"X-E2E-Bypass-Key": key},
                           json={"email": email, "name": "Release Gate"})
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    async def welcomed(token: str) -> ClientConnection | None:
        try:
            ws = await connect(ws_url, open_timeout=TIMEOUT_S, ping_interval=None,
                               additional_headers={"Authorization": f"Bearer {token}"})
        except (OSError, TimeoutError, ValueError):
            return None
        while json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)).get("type") \
                != "system_message":
            pass
        return ws

    async def all_welcomed(tokens: list[str]) -> list[ClientConnection | None]:
        return list(await asyncio.gather(*(welcomed(token) for token in tokens)))

    async def close_all(sessions: list[ClientConnection | None]) -> None:
        await asyncio.gather(*(ws.close() for ws in sessions if ws is not None))

    loop = asyncio.new_event_loop()
    with httpx.Client(timeout=TIMEOUT_S, verify=False) as http:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            tokens = list(pool.map(lambda email: sign_in(http, email), emails(count)))
        sessions = loop.run_until_complete(all_welcomed(tokens))
        elapsed = time.perf_counter() - started
    loop.run_until_complete(close_all(sessions))
    loop.close()
    return elapsed, sum(ws is not None for ws in sessions)


def measure(kind: str, base: str, key: str, count: int) -> tuple[float, int]:
    code = ("import json, sys\nsys.path.insert(0, 'bench')\n"
            "from stagecheck.client.descriptors import raise_descriptor_limit\nraise_descriptor_limit()\n"
            f"import sessions\nprint(json.dumps(sessions.{kind}({base!r}, "
            f"{base.replace('http', 'ws', 1) + '/ws'!r}, {key!r}, {count})))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        return float("nan"), 0
    elapsed, welcomed = json.loads(done.stdout.strip().splitlines()[-1])
    return elapsed, welcomed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, nargs="+", default=[500, 2000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    key = secrets.token_urlsafe(16)
    standin = subprocess.Popen([sys.executable, "-m", "standin", "--port", "0", "--backlog",
                                str(max(args.users) + 64)], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "E2E_OAUTH_SIMULATION_KEY": key},
                               preexec_fn=_raise_limit)
    try:
        assert standin.stdout is not None
        base = standin.stdout.readline().split()[1]
        somaxconn = Path("/proc/sys/net/core/somaxconn").read_text().strip() \
            if Path("/proc/sys/net/core/somaxconn").exists() else "unknown"
        print(f"stand-in at {base} (own process; backlog asked {max(args.users) + 64}, "
              f"somaxconn {somaxconn}); sign-ins {CONCURRENCY} at a time")
        for count in args.users:
            results: dict[str, list[tuple[float, int]]] = {"library": [], "raw": []}
            for _ in range(args.repeat):
                for kind in results:
                    results[kind].append(measure(kind, base, key, count))
            line = [f"N={count}:"]
            for kind, runs in results.items():
                times = [t for t, _ in runs]
                line.append(f"{kind} median {statistics.median(times):.2f} s "
                            f"(runs {', '.join(f'{t:.2f}' for t in times)}; welcomed "
                            f"{min(w for _, w in runs)}-{max(w for _, w in runs)} of {count})")
            ratio = statistics.median(t for t, _ in results["library"]) / \
                statistics.median(t for t, _ in results["raw"])
            print("  ".join(line) + f"  ratio {ratio:.2f}x (goal <= 1.2x)", flush=True)
    finally:
        standin.terminate()
        standin.wait(30)


def _raise_limit() -> None:
    sys.path.insert(0, str(ROOT))
    from stagecheck.client.descriptors import raise_descriptor_limit
    raise_descriptor_limit()


if __name__ == "__main__":
    main()
