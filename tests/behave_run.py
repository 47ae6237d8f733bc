"""Running behave as a subprocess against the embedded stand-in, and reading its JSON result."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Short waits, each still longer than the stand-in's 3 s slow-responses delay where it must be.
FAST = ["-D", "health_timeout=4", "-D", "ws_event_timeout=5", "-D", "agent_timeout=5"]


@dataclass
class BehaveRun:
    returncode: int
    elapsed_s: float
    stdout: str
    stderr: str
    scenarios: dict[str, dict]  # scenario name (outline suffix removed) -> behave JSON element

    def status(self, name: str) -> str:
        return self.scenarios[name]["status"]

    def failing(self) -> set[str]:
        return {name for name, s in self.scenarios.items() if s["status"] in ("failed", "error")}

    def errors(self, name: str) -> str:
        return "\n".join("\n".join(step["result"].get("error_message") or [])
                         if isinstance(step["result"].get("error_message"), list)
                         else str(step["result"].get("error_message") or "")
                         for step in self.scenarios[name].get("steps", []) if "result" in step)


def run_behave(tmp_path: Path, *args: str, timeout: float = 300,
               env: dict[str, str] | None = None, wrap: tuple[str, ...] = ()) -> BehaveRun:
    """behave in a subprocess (under `wrap`, e.g. /usr/bin/time, when given)."""
    out = tmp_path / "behave.json"
    if not any(arg.startswith("report_dir=") for arg in args):  # never the user's own reports/
        args = (*args, "-D", f"report_dir={tmp_path / 'reports'}")
    started = time.perf_counter()
    result = subprocess.run(
        [*wrap, sys.executable, "-m", "behave", "--no-capture", "-f", "json", "-o", str(out),
         "-f", "plain", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - started
    scenarios: dict[str, dict] = {}
    if out.exists() and out.stat().st_size:
        for feature in json.loads(out.read_text()):
            for element in feature.get("elements", []):
                if element.get("type") == "scenario":
                    scenarios[element["name"].split(" -- @")[0]] = element
    return BehaveRun(result.returncode, elapsed, result.stdout, result.stderr, scenarios)


def running_runs(history: Path) -> int:
    """How many runs the history database records as running now (0 before it exists)."""
    if not history.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(history)) as db:
            return db.execute("SELECT count(*) FROM runs WHERE state='running'").fetchone()[0]
    except sqlite3.OperationalError:  # the file exists, its tables not yet
        return 0


def wait_until_running(history: Path, timeout: float = 30) -> bool:
    """Poll (bounded) until a behave run has recorded itself as running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_runs(history):
            return True
        time.sleep(0.05)
    return False
