"""The workers of a run in workers: behave processes against the run's target, started by a
thread of the run's own process while the target keeps the run waiting (`Pool._wanted`), and
waited for (or interrupted once, as Ctrl-C would) before the run concludes.

A worker gets the run's selection on its command line (paths, tags, names, include and exclude
patterns, language, stage, --stop) and the run's settings in its environment, never on its
command line: `ps` shows every user the command lines of the machine's processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..config.settings import Settings
from ..errors import ResultsFileError
from ..lifetime import die_with
from ..outputs.console import say
from ..report.model import RunResult
from ..report.view import seconds
from .claims import CLAIMS, Claims
from .target import attach_env

# Settings each worker gets from the run itself, never from the user's.
OWN = ("workers", "workers_after", "partial", "report_dir", "history", "keep_runs", "notify",
       "metrics_file", "shard", "shard_timings", "report_base_url")
SETTINGS = "STAGECHECK_RUN_SETTINGS"  # a worker's environment: the run's settings (JSON)
WHO = "STAGECHECK_WHO"  # a worker's environment: its name in the claims
TICK = 0.1  # seconds between two looks at the claims


def worker_command(config: Any, folder: Path) -> list[str]:
    """behave for one worker: the run's selection and a report folder of its own; which of
    the selected scenarios it runs, the claims decide."""
    command = [sys.executable, "-m", "behave", "-f", "null", "--no-summary", "--no-snippets"]
    command += [f"--tags={tags}" for tags in config.tags or []]
    command += [f"--name={name}" for name in config.name or []]
    command += [f"--include={config.include_re.pattern}"] if config.include_re else []
    command += [f"--exclude={config.exclude_re.pattern}"] if config.exclude_re else []
    command += [f"--lang={config.lang}"] if config.lang else []
    command += [f"--stage={config.stage}"] if config.stage else []
    command += ["--stop"] if config.stop else []
    command += ["-D", "partial=true", "-D", f"report_dir={folder}", "-D", "keep_runs=0",
                "-D", f"history={folder / 'history.sqlite'}"]
    return command + [str(path) for path in config.paths]


def settings_env(userdata: Any) -> dict[str, str]:
    """The run's settings for its workers, in their environment."""
    return {SETTINGS: json.dumps({k: str(v) for k, v in userdata.items() if k not in OWN})}


def adopt_run_settings(userdata: Any) -> None:
    """In a worker: the run's settings, as if given on its command line."""
    if CLAIMS in os.environ and SETTINGS in os.environ:
        userdata.update(json.loads(os.environ[SETTINGS]))


class Pool:
    """At most `settings.workers - 1` workers, started while `_wanted`. They are started and
    waited for by one thread, which lives until `release`: each worker dies with the thread
    that started it (were the run killed outright), so the thread outlives them all."""

    def __init__(self, config: Any, settings: Settings, claims: Claims, target: Any,
                 folder: Path) -> None:
        self.config, self.settings, self.claims, self.folder = config, settings, claims, folder
        self.env = {**os.environ, **attach_env(target), **settings_env(config.userdata),
                    CLAIMS: str(claims.folder)}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()
        self.closing, self.released = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._watch, name="stagecheck-workers", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.closing.wait(TICK):
            try:
                if len(self.processes) < self.settings.workers - 1 and self._wanted():
                    self._start()
            except Exception as exc:  # noqa: BLE001 - out of processes or descriptors, …:
                say(f"stagecheck: no more workers start this run: {exc}")  # the run goes on
                break
        self.released.wait()

    def _running(self) -> int:
        return sum(1 for p in self.processes if p.poll() is None)

    def _wanted(self) -> bool:
        """Another worker is worth its start: scenarios are left that no process has taken,
        enough to keep every process busy `workers_after` seconds more (at the pace of those
        finished), or one has already waited that long; and fewer workers are still starting
        (running, nothing taken yet) than there are processors. With workers_after=0: whenever
        scenarios are left."""
        after, left = self.settings.workers_after, len(self.claims.open_units())
        if self.claims.stopped() or not left:
            return False
        if not after:
            return True
        pace = self.claims.pace() or 0.0
        if pace * left / (1 + self._running()) < after \
                and self.claims.waiting_longest(time.time()) < after:
            return False
        busy = self.claims.claimants()
        starting = sum(1 for n, p in enumerate(self.processes)
                       if p.poll() is None and worker_name(n + 2) not in busy)
        return starting < max(1, os.cpu_count() or 1)

    def _start(self) -> None:
        with self.lock:
            if self.closing.is_set():
                return
            number = len(self.processes) + 2  # the run's own process is worker 1
            if number == 2:
                announce(self.settings)
            with open(self.folder / f"worker-{number}.log", "wb") as log:
                # Its own process group: a Ctrl-C at the terminal reaches the run, which
                # interrupts each worker once (a second interrupt would cut its report short).
                self.processes.append(subprocess.Popen(
                    worker_command(self.config, self.folder / f"part-{number}"),
                    env={**self.env, WHO: worker_name(number)}, stdout=log,
                    stderr=subprocess.STDOUT, process_group=0,
                    preexec_fn=die_with(os.getpid())))
        say(f"stagecheck: worker {number} of {self.settings.workers} started")

    def _stop_starting(self) -> None:
        with self.lock:
            self.closing.set()

    def drain(self) -> None:
        """No worker starts any more; those running end their scenarios and are waited for
        (a Ctrl-C meanwhile interrupts them, as `close` does, and is raised again)."""
        self._stop_starting()
        try:
            for process in self.processes:
                process.wait()
        except KeyboardInterrupt:
            self.close()
            raise
        self.released.set()

    def close(self) -> None:
        """Every worker still running interrupted as Ctrl-C would (its report written, the
        scenario it was in not reached) and waited for; a second Ctrl-C kills them."""
        self._stop_starting()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        try:
            for process in self.processes:
                process.wait()
        except KeyboardInterrupt:
            for process in self.processes:
                process.kill()
                process.wait()
        self.released.set()

    def results(self) -> list[RunResult]:
        """Each worker's results; one line for a worker that left none."""
        found = []
        for number, process in enumerate(self.processes, start=2):
            file = self.folder / f"part-{number}" / "latest" / "results.json"
            try:
                found.append(RunResult.from_json(file.read_text(encoding="utf-8")))
            except (OSError, ResultsFileError, UnicodeDecodeError):
                code = process.returncode
                how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 \
                    else f"exit {code}"
                say(f"stagecheck: worker {number} ended ({how}) without its results (its log: "
                    f"{_last_line(self.folder / f'worker-{number}.log')}); what it had taken "
                    "is not verified")
        return found


def worker_name(number: int) -> str:
    return f"worker-{number}"


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if line.strip() and not line.startswith("USING RUNNER")]
    return lines[-1][:300] if lines else "nothing"


def announce(settings: Settings) -> None:
    """Said when the first worker starts: how many at most, and when they start."""
    after = settings.workers_after
    say(f"stagecheck: scenarios run at once from here, in up to {settings.workers} workers: "
        + (f"another starts while those left would keep each busy {seconds(after)} more; "
           if after else "each starts as soon as it can (workers_after=0); ")
        + "the console lists every scenario at the end")
