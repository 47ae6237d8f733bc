"""Benchmark: the P1 run against a plain script making the same calls, on one running stand-in;
time until N concurrent sessions are all welcomed; and the whole command's wall time.

Run by hand: `python bench/p1_bench.py [--repeat 5]`. Everything stays on loopback. Goals: the
P1 scenario time at most 1.3x the plain script's; 500 sessions welcomed in under 1.5 s.
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
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from stagecheck.run.exchanges import ExchangeLog, Redactor
from stagecheck.run.sessions import open_session_async
from stagecheck.run.users import forged_token

ROOT = Path(__file__).resolve().parent.parent


def start_standin(key: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "standin", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "E2E_OAUTH_SIMULATION_KEY": key})
    words = proc.stdout.readline().split()
    return proc, words[1]


def plain_p1(base: str, key: str) -> float:
    """The same calls as the 14 P1 scenarios, written as one plain script."""
    ws_url = base.replace("http", "ws", 1) + "/ws"
    http = httpx.Client(base_url=base, timeout=30)

    def sign_in(email: str = "release-gate@e2e.test") -> str:
        return http.post("/auth/e2e/test-auth", headers={"X-E2E-Bypass-Key": key},
                         json={"email": email}).json()["access_token"]

    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def until(ws, kinds) -> dict:
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 15)))["type"] not in kinds:
            pass
        return frame

    async def session(token, *frames_and_waits) -> None:
        async with websockets.connect(ws_url, additional_headers=auth(token)) as ws:
            for frame, kinds in frames_and_waits:
                if frame:
                    await ws.send(json.dumps(frame))
                await until(ws, kinds)

    async def refused(headers) -> None:
        try:
            async with websockets.connect(ws_url, additional_headers=headers):
                pass
        except websockets.exceptions.InvalidStatus:
            return

    async def many(tokens) -> None:
        conns = await asyncio.gather(*(websockets.connect(ws_url, additional_headers=auth(t))
                                       for t in tokens))
        await asyncio.gather(*(until(c, {"system_message"}) for c in conns))
        for c in conns:
            await c.send('{"type": "ping"}')
        await asyncio.gather(*(until(c, {"pong"}) for c in conns))
        await asyncio.gather(*(c.close() for c in conns))

    started = time.perf_counter()
    run = asyncio.run
    run(session(sign_in(), (None, {"system_message"})))
    run(refused(None))
    run(refused(auth(forged_token())))
    run(session(sign_in(), ({"type": "ping"}, {"pong"})))
    token = sign_in()
    thread = http.post("/api/threads", json={"title": "t"}, headers=auth(token)).json()["id"]
    message = {"type": "user_message", "payload": {"content": "Hello", "thread_id": thread}}
    run(session(token, (message, {"ack"})))
    http.get(f"/api/threads/{thread}/messages", headers=auth(token))
    run(many([sign_in(f"release-gate-{i}@e2e.test") for i in range(1, 6)]))
    http.get("/api/mcp/servers", headers=auth(sign_in()))
    http.post("/auth/validate", json={"token": sign_in()})
    http.post("/auth/e2e/test-auth", headers={"X-E2E-Bypass-Key": "wrong"}, json={})
    http.get("/health")
    http.get("/api/health")
    run(session(sign_in(), ({"type": "start_agent", "payload": {"user_request": "hi"}},
                            {"agent_completed", "agent_error"})))
    token = sign_in()
    thread = http.post("/api/threads", json={"title": "t"}, headers=auth(token)).json()["id"]
    run(session(token, *[({"type": "user_message", "payload": {"content": c, "thread_id": thread}},
                          {"ack"}) for c in ("one", "two", "three")]))
    http.get(f"/api/threads/{thread}/messages", headers=auth(token))
    token = sign_in()
    thread = http.post("/api/threads", json={"title": "t"}, headers=auth(token)).json()["id"]
    http.get(f"/api/threads/{thread}/messages", headers=auth(sign_in("release-gate-other@e2e.test")))
    elapsed = time.perf_counter() - started
    http.close()
    return elapsed


def behave_p1(base: str, key: str, folder: Path) -> float:
    """The P1 run against the same stand-in; returns the sum of its scenarios' wall times."""
    subprocess.run([sys.executable, "-m", "behave", "--tags=@p1", "-f", "null", "-D", "target=staging",
                    "-D", f"base_url={base}", "-D", f"report_dir={folder}"], cwd=ROOT, check=True,
                   env={**os.environ, "E2E_OAUTH_SIMULATION_KEY": key}, capture_output=True)
    data = json.loads((folder / "latest" / "results.json").read_text())
    assert data["verdict"]["decision"] == "GO", data["verdict"]
    return sum(s["duration_s"] for s in data["scenarios"])


async def welcome_all(ws_url: str, token: str, count: int) -> float:
    log = ExchangeLog(Redactor())
    loop = asyncio.get_running_loop()

    async def one():
        attempt = await open_session_async(ws_url, token, log, loop, 10)
        await attempt.session.receive_until_async(lambda f: f.get("type") == "system_message", 15,
                                                  "welcome")
        return attempt.session

    started = time.perf_counter()
    sessions = await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(s.close_async() for s in sessions))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    key = secrets.token_urlsafe(16)
    proc, base = start_standin(key)
    try:
        plain_p1(base, key)  # warm-up
        plain = [plain_p1(base, key) for _ in range(args.repeat)]
        with tempfile.TemporaryDirectory() as tmp:
            suite = [behave_p1(base, key, Path(tmp) / str(i)) for i in range(args.repeat)]
        ratio = statistics.median(suite) / statistics.median(plain)
        print(f"P1 scenario time: suite median {statistics.median(suite):.3f} s, plain script "
              f"median {statistics.median(plain):.3f} s, ratio {ratio:.2f}x (goal <= 1.3x)")
        token = httpx.post(f"{base}/auth/e2e/test-auth", headers={"X-E2E-Bypass-Key": key},
                           json={}).json()["access_token"]
        ws_url = base.replace("http", "ws", 1) + "/ws"
        for count in (5, 50, 500):
            times = [asyncio.run(welcome_all(ws_url, token, count)) for _ in range(3)]
            print(f"{count} concurrent sessions all welcomed: median {statistics.median(times):.3f} s "
                  f"(runs: {', '.join(f'{t:.3f}' for t in times)})")
    finally:
        proc.terminate()
        proc.wait(10)
    with tempfile.TemporaryDirectory() as tmp:
        walls = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "behave", "--tags=@p1", "--stop", "-f", "null",
                            "-D", f"report_dir={tmp}"], cwd=ROOT, check=True, capture_output=True)
            walls.append(time.perf_counter() - started)
    print(f"whole command `behave --tags=@p1 --stop` (stand-in start, run, report): median "
          f"{statistics.median(walls):.3f} s (runs: {', '.join(f'{w:.3f}' for w in walls)})")


if __name__ == "__main__":
    main()
