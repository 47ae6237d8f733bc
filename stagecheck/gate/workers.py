"""Parallel scenarios in one run (`-D workers=N`): the run's own process runs the selection as
one process does, and starts more workers (behave processes against the same target, the
stand-in started once) only while the target keeps a scenario waiting: each takes the next
scenario nobody has taken (`claims.py`). On a quick target no worker starts and the run is the
one-process run; on a slow one up to N run at once. One console listing in file order, one
verdict line, one report, one history entry, the same exit status.

Scenarios that must run alone (`@serial`, the load tier) are run by the run's own process
after its workers have ended. An outline runs whole in one process. Each worker is a part
(`-D partial=true`): its results hold what it ran, merged with the run's own at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.settings import Settings
from ..errors import ResultsFileError
from ..lifetime import die_with
from ..outputs.console import say
from ..report.merge import merge_results
from ..report.model import RunResult
from ..report.view import seconds, tally
from ..vocabulary import RAN, Status
from .claims import CLAIMS, Claims, alone, keep_only
from .selection import part_selection, units_of
from .target import attach_env

STOPPED_ELSEWHERE = ("not reached: the run stopped at a failure in another of its workers "
                     "(--stop)")
# Settings each worker gets from the run itself, never from the user's command.
OWN = ("workers", "workers_after", "partial", "report_dir", "history", "keep_runs", "notify",
       "metrics_file", "shard", "shard_timings", "report_base_url")
TICK = 0.1  # seconds between two looks at the claims
WHO = "STAGECHECK_WHO"  # a worker's environment: its name in the claims


def worker_command(config: Any, folder: Path) -> list[str]:
    """behave for one worker: the run's paths, tags, names and settings, and a report folder
    of its own; which scenarios it runs, the claims decide."""
    command = [sys.executable, "-m", "behave", "-f", "null", "--no-summary", "--no-snippets"]
    command += [f"--tags={tags}" for tags in config.tags or []]
    command += [f"--name={name}" for name in config.name or []]
    if config.stop:
        command.append("--stop")
    for name, value in sorted(config.userdata.items()):
        if name not in OWN:
            command += ["-D", f"{name}={value}"]
    command += ["-D", "partial=true", "-D", f"report_dir={folder}", "-D", "keep_runs=0",
                "-D", f"history={folder / 'history.sqlite'}"]
    return command + [str(path) for path in config.paths]


class Pool:
    """The workers of a run, at most `settings.workers - 1` of them, started while the target
    keeps the run waiting (`_wanted`)."""

    def __init__(self, config: Any, settings: Settings, claims: Claims, target: Any,
                 folder: Path) -> None:
        self.config, self.settings, self.claims, self.folder = config, settings, claims, folder
        self.env = {**os.environ, **attach_env(target), CLAIMS: str(claims.folder)}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="stagecheck-workers", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        """Start workers while they are wanted; once closing, wait for them. Workers are
        started and waited for in this thread: each dies with the thread that started it."""
        while not self.closing.wait(TICK):
            try:
                if len(self.processes) < self.settings.workers - 1 and self._wanted():
                    self._start()
            except OSError as exc:  # out of processes or descriptors: the run goes on as it is
                say(f"stagecheck: no more workers start this run: {exc}")
                break
        self.closing.wait()
        for process in self.processes:
            process.wait()

    def _wanted(self) -> bool:
        """Another worker is worth its start: some scenarios are left that nobody took, and
        they would keep every process busy `workers_after` seconds more (judged by how long the
        finished ones took), or one has already waited that long; and the workers still
        starting (none taken yet) are fewer than the processors that start them. With
        workers_after=0, whenever some are left."""
        after, left = self.settings.workers_after, len(self.claims.open_units())
        if self.claims.stopped() or not left:
            return False
        if not after:
            return True
        pace = self.claims.pace() or 0.0
        if pace * left / (1 + len(self.processes)) < after \
                and self.claims.waiting_longest(time.time()) < after:
            return False
        busy = self.claims.claimants()
        starting = sum(1 for n, p in enumerate(self.processes)
                       if p.poll() is None and f"worker-{n + 2}" not in busy)
        return starting < max(1, os.cpu_count() or 1)

    def _start(self) -> None:
        with self.lock:
            if self.closing.is_set():
                return
            number = len(self.processes) + 2  # the run's own process is worker 1
            if number == 2:
                announce(self.settings)
            part = self.folder / f"part-{number}"
            with open(self.folder / f"worker-{number}.log", "wb") as log:
                # Its own process group: a Ctrl-C at the terminal reaches the run, which
                # interrupts each worker once (a second interrupt would cut its report short).
                # And it dies with the run, were the run killed outright (kill -9).
                self.processes.append(subprocess.Popen(
                    worker_command(self.config, part), env={**self.env, WHO: f"worker-{number}"},
                    stdout=log, stderr=subprocess.STDOUT, process_group=0,
                    preexec_fn=die_with(os.getpid())))
        say(f"stagecheck: worker {number} of {self.settings.workers} started")

    def drain(self) -> None:
        """No worker starts any more; those running end their scenarios and are waited for
        (a Ctrl-C meanwhile interrupts them, as `close` does)."""
        with self.lock:
            self.closing.set()
        try:
            self.thread.join()
        except KeyboardInterrupt:
            self.close()
            raise

    def close(self) -> None:
        """Every worker still running interrupted as Ctrl-C would (its report written, the
        scenario it was in not reached) and waited for."""
        with self.lock:
            self.closing.set()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        try:
            self.thread.join()
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
            for process in self.processes:
                process.kill()
            self.thread.join()

    def results(self) -> list[RunResult]:
        """Each worker's results; one line for a worker that left none."""
        found = []
        for number in range(2, len(self.processes) + 2):
            file = self.folder / f"part-{number}" / "latest" / "results.json"
            try:
                found.append(RunResult.from_json(file.read_text(encoding="utf-8")))
            except (OSError, ResultsFileError, UnicodeDecodeError):
                log = (self.folder / f"worker-{number}.log").read_text(errors="replace")
                last = (log.strip().splitlines() or ["no output"])[-1]
                say(f"stagecheck: worker {number} left no results ({last}); what it had taken "
                    "is not verified")
        return found


def assembled(own: RunResult, claims: Claims, pool: Pool, run_id: str) -> RunResult:
    """The run's result: its own process's and its workers', as one run (its id kept)."""
    workers = pool.results() if pool.processes else []
    if not workers:
        return own
    own.shard = part_selection(claims.units, claims.kept(unclaimed_too=True))
    result = merge_results([own, *workers])
    result.facts.run_id = run_id
    return result


def announce(settings: Settings) -> None:
    """Said when the first worker starts: how many at most, and when they start."""
    after = settings.workers_after
    say(f"stagecheck: scenarios run at once from here, in up to {settings.workers} workers: "
        + (f"another starts while those left would keep each busy {seconds(after)} more; "
           if after else "each starts as soon as it can (workers_after=0); ")
        + "the console lists every scenario at the end")


def listing(result: RunResult) -> None:
    """The run's scenarios in file order, one line each, and what each one not passed found."""
    for scenario in result.scenarios:
        took = f" ({seconds(scenario.duration_s)})" if scenario.status in RAN else ""
        say(f"  {scenario.status:<10}  {scenario.feature}: {scenario.name}{took}")
        if scenario.status not in (Status.PASSED, Status.UNTESTED):
            say(f"  {'':<10}  {scenario.key_finding}")
    say(f"{tally(result.scenarios)} in {seconds(result.facts.duration_s)}")


def alone_last(features: list[Any], config: Any) -> list[Any]:
    """The features in the order the run's own process runs them: those with a scenario that
    must run alone last (it waits for its workers to end before such a scenario)."""
    waits = {id(u.feature) for u in units_of(features, config) if alone(u)}
    return [f for f in features if id(f) not in waits] + [f for f in features if id(f) in waits]


def open_claims(context: Any, settings: Settings, target: Any) -> tuple[Claims | None,
                                                                          Pool | None]:
    """This process's claims: a worker's (its environment names the run's folder), or the
    run's own when it runs in workers (the runner made the folder), with the pool that starts
    its workers; (None, None) for a run of one process."""
    features, config = context._runner.features, context.config
    if CLAIMS in os.environ and settings.partial:
        return Claims(Path(os.environ[CLAIMS]), units_of(features, config),
                      os.environ.get(WHO, "worker"), helper=True), None
    folder = getattr(context, "gate_workers_folder", None)
    if folder is None:
        return None, None
    claims = Claims(folder / "claims", units_of(features, config), "worker-1", helper=False)
    return claims, Pool(config, settings, claims, target, folder)


def end_claims(context: Any, claims: Claims, pool: Pool | None,
               run_id: str) -> Callable[[RunResult], RunResult] | None:
    """At the end of a process of a run in workers: its workers ended (interrupted if the run
    was), its scenarios left to what it reports; what assembles the run's result, for the
    run's own process."""
    if pool is not None:
        try:
            pool.close() if getattr(context, "aborted", False) else pool.drain()
        except KeyboardInterrupt:
            context._runner.abort(reason="KeyboardInterrupt")
    keep_only(context._runner.features, claims.units, claims.kept(unclaimed_too=not claims.helper))
    if pool is None:
        context.gate_shard = part_selection(claims.units, claims.mine)
        return None

    def assemble(own: RunResult) -> RunResult:
        result = assembled(own, claims, pool, run_id)
        if pool.processes:  # the console went quiet when the first one started
            listing(result)
        return result
    return assemble


def quiet_once_shared(context: Any) -> None:
    """Between two scenarios of the run's own process, once a worker has started: behave's
    console stops (it would show the workers' scenarios as skipped) and the run ends with one
    listing of every scenario in file order instead."""
    pool = getattr(context, "gate_pool", None)
    runner = context._runner
    if pool is None or not pool.processes or not runner.formatters:
        return
    for formatter in runner.formatters:
        formatter.close()
    runner.formatters = []
    runner.config.reporters = []  # behave's summary would count this process's share
