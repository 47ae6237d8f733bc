"""The load tier: Locust run headless as a subprocess (so gevent never meets behave's asyncio),
alone or as a master with local workers, under a hard deadline; its own statistics
(percentiles, failures) read back from its CSV files as the step's evidence.

Secrets reach Locust through its environment, never its command line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client.exchanges import ExchangeLog
from ..config.settings import Settings
from ..config.target import Target
from ..errors import LoadRunFailed
from ..lifetime import die_with
from ..vocabulary import Channel

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
NOT_INSTALLED = "Locust is not installed: pip install 'stagecheck[load]'"
STARTUP_S = 30.0       # Locust's own start (and its workers connecting), at most
SPAWN_SLACK_S = 10.0   # beyond users / rate, for spawning under a busy machine


@dataclass(frozen=True)
class LoadPlan:
    """How many users Locust runs, arriving at what rate, for how long, doing what."""

    users: int
    rate: float
    seconds: int
    user_class: str  # a User class of the locustfile: LiveSessionUser or AgentUser

    @classmethod
    def scaled(cls, users: int, rate: float, seconds: int, user_class: str,
               scale: float) -> LoadPlan:
        """The Examples' numbers times `load_scale` (users and duration; never below one user
        or one second, and never arriving faster than there are users)."""
        scaled_users = max(1, round(users * scale))
        return cls(scaled_users, min(rate, float(scaled_users)), max(1, round(seconds * scale)),
                   user_class)

    def describe(self) -> str:
        return f"{self.users} users arriving at {self.rate:g}/s for {self.seconds} s"


@dataclass(frozen=True)
class RequestStats:
    """One row of Locust's statistics, times in seconds."""

    kind: str
    name: str
    count: int = 0
    failures: int = 0
    p50_s: float = 0.0
    p95_s: float = 0.0
    p99_s: float = 0.0
    max_s: float = 0.0
    per_second: float = 0.0

    def describe(self) -> str:
        if not self.count:
            return f"{self.name}: no sample"
        return (f"{self.name}: {self.count} samples, p50 {self.p50_s:.3f} s, p95 "
                f"{self.p95_s:.3f} s, p99 {self.p99_s:.3f} s, max {self.max_s:.3f} s, "
                f"{self.failures} failed")


@dataclass(frozen=True)
class LoadResult:
    """What a Locust run measured: its statistics by request name, and its failures."""

    plan: LoadPlan
    workers: int
    stats: dict[str, RequestStats]
    failures: dict[str, list[str]] = field(default_factory=dict)  # name -> "N× error"
    exceptions: list[str] = field(default_factory=list)  # errors in the users' own code
    elapsed_s: float = 0.0

    def of(self, name: str) -> RequestStats:
        return self.stats.get(name) or RequestStats("", name)

    def measures(self) -> dict[str, float]:
        """The percentiles the history keeps, so that a markedly slower load run is noticed."""
        return {f"{row.name} {p}": value for row in self.stats.values() if row.count
                for p, value in (("p50", row.p50_s), ("p95", row.p95_s), ("p99", row.p99_s))}

    def failure_text(self, name: str) -> str:
        return "; ".join(self.failures.get(name, []))


def read_summary(path: Path) -> tuple[dict[str, RequestStats], dict[str, list[str]], list[str]]:
    """The locustfile's summary of Locust's statistics: rows by name, failures by name, and
    exceptions raised in the users' own code."""
    summary = json.loads(path.read_text(encoding="utf-8"))
    def seconds(row: dict[str, Any], key: str) -> float:
        return float(row[key] or 0) / 1000

    stats = {row["name"]: RequestStats(
        row["type"], row["name"], int(row["count"]), int(row["failures"]),
        p50_s=seconds(row, "p50_ms"), p95_s=seconds(row, "p95_ms"), p99_s=seconds(row, "p99_ms"),
        max_s=seconds(row, "max_ms"), per_second=float(row["per_second"] or 0))
        for row in summary["stats"]}
    failures: dict[str, list[str]] = {}
    for error in summary["errors"]:
        failures.setdefault(error["name"], []).append(f"{error['occurrences']}× {error['error']}")
    return stats, failures, [f"{e['count']}× {e['message']}" for e in summary["exceptions"]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


@contextlib.contextmanager
def _processes(commands: Sequence[Sequence[str]], env: Mapping[str, str],
               folder: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start each command in its own process group, output to files; whatever happens, every
    one still running is killed (its group) on the way out."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for index, command in enumerate(commands):
            with open(folder / f"out{index}.log", "wb") as out, \
                    open(folder / f"err{index}.log", "wb") as err:
                started.append(subprocess.Popen(command, stdout=out, stderr=err, env=dict(env),
                                                stdin=subprocess.DEVNULL, start_new_session=True,
                                                preexec_fn=die_with(os.getpid())))
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def locust_available(python: str) -> bool:
    """Whether the running Python can import Locust and websocket-client (another Python is
    asked by running it)."""
    if python == sys.executable:
        return all(importlib.util.find_spec(name) is not None for name in ("locust", "websocket"))
    try:
        return subprocess.run([python, "-c", "import locust, websocket"], capture_output=True,
                              timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_locust(plan: LoadPlan, *, host: str, env: Mapping[str, str], python: str,
               workers: int = 0, stop_timeout: float = 10.0, deadline_s: float | None = None,
               locustfile: Path = LOCUSTFILE) -> LoadResult:
    """Run Locust headless (a master and `workers` local workers when asked) and read its
    statistics; LoadRunFailed with the cause when it is missing, fails, or passes its deadline."""
    if not locust_available(python):
        raise LoadRunFailed(NOT_INSTALLED)
    deadline_s = deadline_s if deadline_s is not None else (
        STARTUP_S + plan.users / plan.rate + SPAWN_SLACK_S + plan.seconds + stop_timeout)
    with tempfile.TemporaryDirectory(prefix="stagecheck-load-") as tmp:
        folder = Path(tmp)
        summary = folder / "summary.json"
        env = {**env, "STAGECHECK_LOAD_SUMMARY": str(summary)}
        base = [python, "-m", "locust", "-f", str(locustfile), "--host", host,
                "--loglevel", "WARNING"]
        master = [*base, "--headless", "-u", str(plan.users), "-r", f"{plan.rate:g}",
                  "-t", f"{plan.seconds}s", "--stop-timeout", f"{stop_timeout:g}",
                  "--exit-code-on-error", "0", "--only-summary",
                  plan.user_class]
        commands = [master]
        if workers:
            port = _free_port()
            master[len(base):len(base)] = [
                "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                "--expect-workers", str(workers),
                "--expect-workers-max-wait", f"{STARTUP_S:g}"]
            commands += [[*base, "--worker", "--master-host", "127.0.0.1", "--master-port",
                          str(port), plan.user_class] for _ in range(workers)]
        started = time.monotonic()
        with _processes(commands, env, folder) as running:
            try:
                code = running[0].wait(timeout=deadline_s)
            except subprocess.TimeoutExpired:
                raise LoadRunFailed(
                    f"Locust did not finish {plan.describe()} within its {deadline_s:.0f} s "
                    f"deadline and was stopped: {_tail(folder / 'err0.log') or 'no output'}"
                ) from None
        elapsed = time.monotonic() - started
        errors = _tail(folder / "err0.log")
        if "No module named locust" in errors or "No module named 'websocket'" in errors:
            raise LoadRunFailed(NOT_INSTALLED)
        if code != 0 or not summary.is_file():
            raise LoadRunFailed(f"Locust failed to run {plan.describe()} (exit {code}): "
                                f"{errors or 'no output'}")
        stats, failures, exceptions = read_summary(summary)
    return LoadResult(plan, workers, stats, failures, exceptions, round(elapsed, 3))


def load_environment(settings: Settings, target: Target, run_id: str) -> dict[str, str]:
    """What Locust's users need, secrets included, passed through the environment only."""
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ,
            "PYTHONPATH": package_root + (os.pathsep + path if path else ""),
            "STAGECHECK_LOAD_AUTH_URL": target.auth_url,
            "STAGECHECK_LOAD_WS_URL": target.ws_url,
            "STAGECHECK_LOAD_RUN": run_id,
            "STAGECHECK_LOAD_EVENT_TIMEOUT": f"{settings.ws_event_timeout:g}",
            "STAGECHECK_LOAD_AGENT_TIMEOUT": f"{settings.agent_timeout:g}",
            "STAGECHECK_LOAD_CONNECT_TIMEOUT": f"{settings.connect_timeout:g}",
            "STAGECHECK_LOAD_INSECURE_TLS": "true" if settings.insecure_tls else "false",
            "E2E_OAUTH_SIMULATION_KEY": target.bypass_key,
            "STAGING_TEST_JWT_TOKEN": target.token}


def run_load(settings: Settings, target: Target, log: ExchangeLog, run_id: str,
             plan: LoadPlan) -> LoadResult:
    """Run the plan against the target with the run's settings; each of Locust's statistics
    rows becomes an exchange on the scenario's log (its failures as the exchange's error)."""
    stop_timeout = max(settings.ws_event_timeout, settings.agent_timeout) + 1
    result = run_locust(plan, host=target.auth_url, python=settings.load_python or sys.executable,
                        env=load_environment(settings, target, run_id),
                        workers=settings.load_workers, stop_timeout=stop_timeout)
    workers = f" on {result.workers} workers" if result.workers else ""
    for row in result.stats.values():
        url = target.auth_url if row.kind == "POST" else target.ws_url
        log.record(Channel.LOAD, f"locust {row.name}", url, None, row.p95_s,
                   request=f"{plan.describe()}{workers} ({plan.user_class})",
                   response=row.describe(), error=result.failure_text(row.name))
    if result.exceptions:
        log.record(Channel.LOAD, "locust user errors", target.ws_url, None, 0.0,
                   error="; ".join(result.exceptions))
    return result
