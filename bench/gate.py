"""Benchmark: the whole `behave --tags=@p1 --stop` (process start to exit) against the bare
import of its libraries, and against a plain script making the same calls to the same embedded
stand-in in its own process; with each one's peak RSS.

Run by hand: `python bench/gate.py [--repeat 5]`. Everything stays on loopback; the three are
run in turn, `--repeat` times each, and the medians compared. The import floor imports every
module the gate ends up loading except our own (`stagecheck`, `standin`), as measured in the
same sitting. Goals: gate <= 1.5x the import floor and <= 1.2x the plain script in wall time;
peak RSS <= 1.3x the import floor's.

`python bench/gate.py --plain` runs the plain script once (what the benchmark times).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("stagecheck", "standin", "__main__", "__mp_main__")


def plain() -> None:
    """The 14 P1 scenarios' calls, as one plain script: the stand-in started as the gate starts
    it, httpx and websockets, each wait bounded as the gate bounds it."""
    import asyncio
    import contextlib
    import uuid

    import httpx
    import jwt
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from standin import start_standin

    with start_standin() as standin, httpx.Client(timeout=30) as http:
        base, ws_url, key = standin.urls.backend_url, standin.urls.ws_url, standin.bypass_key

        def sign_in(email: str = "release-gate@e2e.test", bypass: str = key) -> httpx.Response:
            return http.post(f"{base}/auth/e2e/test-auth", headers={"X-E2E-Bypass-Key": bypass},
                             json={"email": email, "name": "Release Gate"})

        def token(email: str = "release-gate@e2e.test") -> str:
            return str(sign_in(email).json()["access_token"])

        def auth(value: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {value}"}

        async def until(ws, wanted) -> dict:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if wanted(frame):
                    return frame

        def welcome(frame: dict) -> bool:
            return frame.get("type") == "system_message" and \
                (frame.get("data") or {}).get("event") == "connection_established"

        def ack(frame: dict) -> bool:
            return frame.get("type") == "system_message" and \
                (frame.get("data") or {}).get("status") == "acknowledged"

        async def session(bearer: str, *steps: tuple[dict | None, object]) -> None:
            async with connect(ws_url, additional_headers=auth(bearer), open_timeout=10,
                               ping_interval=None) as ws:
                await until(ws, welcome)
                for frame, wanted in steps:
                    await ws.send(json.dumps(frame))
                    await until(ws, wanted)

        async def refused(headers: dict[str, str]) -> None:
            async with connect(ws_url, additional_headers=headers, open_timeout=10,
                               ping_interval=None) as ws:
                with contextlib.suppress(ConnectionClosed):
                    await until(ws, lambda _: False)

        async def crowd(tokens: list[str]) -> None:
            sessions = await asyncio.gather(*(connect(ws_url, additional_headers=auth(t),
                                                      open_timeout=10, ping_interval=None)
                                              for t in tokens))
            await asyncio.gather(*(until(ws, welcome) for ws in sessions))
            await asyncio.gather(*(ws.send('{"type": "ping"}') for ws in sessions))
            await asyncio.gather(*(until(ws, lambda f: f.get("type") == "pong") for ws in sessions))
            await asyncio.gather(*(ws.close() for ws in sessions))

        def thread(bearer: str) -> str:
            return str(http.post(f"{base}/api/threads", json={"title": "Release gate"},
                                 headers=auth(bearer)).json()["id"])

        def message(thread_id: str, text: str) -> dict:
            return {"type": "user_message", "payload": {"content": text, "thread_id": thread_id}}

        loop = asyncio.new_event_loop()
        run = loop.run_until_complete
        forged = jwt.encode({"sub": str(uuid.uuid4()), "email": "forged@example.com",
                             "exp": int(time.time()) + 900, "token_type": "access"},
                            "not-the-platform-key-" + uuid.uuid4().hex, algorithm="HS256")
        # live sessions: welcome, no token, invalid token, ping, message kept, 5 at once
        run(session(token()))
        run(refused({}))
        run(refused(auth(forged)))
        run(session(token(), ({"type": "ping"}, lambda f: f.get("type") == "pong")))
        bearer = token()
        thread_id = thread(bearer)
        run(session(bearer, (message(thread_id, "Hello from the release gate"), ack)))
        http.get(f"{base}/api/threads/{thread_id}/messages", headers=auth(bearer))
        run(crowd([token(f"release-gate-{i}@e2e.test") for i in range(1, 6)]))
        # discovery; sign-in and its refusal; health and detailed health
        http.get(f"{base}/api/mcp/servers", headers=auth(token()))
        http.post(f"{base}/auth/validate", json={"token": token()})
        sign_in(bypass="wrong")
        http.get(f"{base}/health")
        http.get(f"{base}/api/health")
        # an agent run; messages in order; another user refused the conversation
        run(session(token(), ({"type": "start_agent", "payload": {"user_request": "Which agent "
                                                                  "servers can I use?"}},
                              lambda f: f.get("type") in ("agent_completed", "agent_error"))))
        bearer = token()
        thread_id = thread(bearer)
        run(session(bearer, *[(message(thread_id, text), ack)
                              for text in ("First", "Second", "Third")]))
        http.get(f"{base}/api/threads/{thread_id}/messages", headers=auth(bearer))
        bearer = token()
        thread_id = thread(bearer)
        http.get(f"{base}/api/threads/{thread_id}/messages", headers=auth(bearer))
        http.get(f"{base}/api/threads/{thread_id}/messages",
                 headers=auth(token("release-gate-other@e2e.test")))
        loop.close()


def timed(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds from process start to exit, the process's peak RSS in MB, and its CPU
    seconds (user and system: less sensitive than wall time to a busy machine)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}: "
                         f"{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def gate_modules(folder: Path) -> list[str]:
    """Every module a gate run loads, but our own."""
    listing = folder / "modules.json"
    code = ("import json, sys\nfrom behave.__main__ import main\n"  # the gate ends in SystemExit
            "try:\n"
            f"    main(['--tags=@p1', '--stop', '-f', 'null', '-D', 'report_dir={folder}'])\n"
            "finally:\n"
            f"    json.dump(sorted(sys.modules), open({str(listing)!r}, 'w'))\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    names = json.loads(listing.read_text())
    return [n for n in names if n.split(".")[0] not in OURS and not n.endswith("_steps")
            and n not in ("environment",)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--plain", action="store_true", help="run the plain script once")
    args = parser.parse_args()
    if args.plain:
        plain()
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        modules = gate_modules(folder)
        floor_code = ("import importlib\nfor name in " + repr(modules) + ":\n    try:\n"
                      "        importlib.import_module(name)\n    except Exception:\n        pass\n")
        commands = {
            "gate": [sys.executable, "-m", "behave", "--tags=@p1", "--stop", "-f", "null",
                     "-D", f"report_dir={folder / 'reports'}"],
            "import floor": [sys.executable, "-c", floor_code],
            "plain script": [sys.executable, str(Path(__file__).resolve()), "--plain"],
        }
        for command in commands.values():  # warm the disk cache and the template cache
            timed(command)
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                runs[name].append(timed(command))
    wall = {name: statistics.median(w for w, _, _ in r) for name, r in runs.items()}
    rss = {name: statistics.median(m for _, m, _ in r) for name, r in runs.items()}
    cpu = {name: statistics.median(c for _, _, c in r) for name, r in runs.items()}
    for name, r in runs.items():
        print(f"{name:13s} wall median {wall[name]:.3f} s (runs: "
              f"{', '.join(f'{w:.3f}' for w, _, _ in r)}); CPU median {cpu[name]:.3f} s; "
              f"peak RSS median {rss[name]:.1f} MB")
    for what, figures in (("wall", wall), ("CPU", cpu)):
        print(f"{what}: gate / import floor {figures['gate'] / figures['import floor']:.2f}x "
              f"(goal <= 1.5x); gate / plain script "
              f"{figures['gate'] / figures['plain script']:.2f}x (goal <= 1.2x)")
    print(f"peak RSS: gate / import floor {rss['gate'] / rss['import floor']:.2f}x (goal <= 1.3x); "
          f"modules in the floor: {len(modules)}; median of {args.repeat} runs each; "
          f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
