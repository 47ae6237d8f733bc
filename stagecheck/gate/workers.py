"""Parallel scenarios in one run (`-D workers=N`): the selection split among N behave processes
that run at once against one target (the stand-in started once, here), then merged into one
run as shards are: one console listing in file order, one verdict line, one report, one
history entry, the same exit status.

Each worker is a part (`-D partial=true` with `file:line` locations, as behavex's workers
are); scenarios that must run alone (`@serial`, the load tier) run after the others, in one
more part, with nothing beside them. An outline runs whole in one worker. The split balances
the durations of the last run on the same report folder, when there is one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..config.settings import Settings
from ..errors import ConfigError, ResultsFileError, ShardError
from ..lifetime import die_with
from ..outputs.console import say
from ..platform.users import largest_crowd
from ..report.merge import merge
from ..report.model import RunResult
from ..report.view import seconds, tally
from ..vocabulary import RAN, Status
from .conclude import GateOutcome, publish_assembled
from .selection import Unit, assign, durations_of, units_of
from .target import attach_env, open_target

ALONE = frozenset({"serial", "load"})  # tags of scenarios that must run with nothing beside them
STOP_FILE = "STAGECHECK_STOP_FILE"     # a worker that stopped at a failure (--stop) creates it
# Settings each worker gets from the run itself, never from the user's command.
OWN = ("workers", "partial", "report_dir", "history", "keep_runs", "notify", "metrics_file",
       "shard", "shard_timings", "report_base_url")


STOPPED_ELSEWHERE = ("not reached: the run stopped at a failure in another of its workers "
                     "(--stop)")


def stopped_elsewhere() -> bool:
    """In a worker of a parallel --stop run: another worker stopped at a failure."""
    return STOP_FILE in os.environ and Path(os.environ[STOP_FILE]).exists()


def stop_the_others() -> None:
    """In a worker of a parallel --stop run, at a failure: no other worker starts a scenario."""
    if STOP_FILE in os.environ:
        Path(os.environ[STOP_FILE]).touch()


def alone(unit: Unit) -> bool:
    tags = {str(t) for t in (*unit.feature.tags, *unit.model.tags)}
    return bool(tags & ALONE)


def plan(units: Sequence[Unit], workers: int, durations: dict[str, float]
         ) -> tuple[list[list[Unit]], list[Unit]]:
    """The units of each worker (file order within each), and those to run alone after."""
    together = [u for u in units if not alone(u)]
    shard_of = assign([u.key for u in together], workers, durations)
    groups = [[u for u in together if shard_of[u.key] == n] for n in range(1, workers + 1)]
    return [g for g in groups if g], [u for u in units if alone(u)]


def worker_command(config: Any, settings: Settings, folder: Path, units: Sequence[Unit]
                   ) -> list[str]:
    """behave for one part: the run's tags, names and settings, its own report folder, and the
    locations of its scenarios."""
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
    return command + [str(u.model.location) for u in units]


@contextlib.contextmanager
def _workers(commands: list[list[str]], env: dict[str, str], logs: Path) -> Iterator[
        list[subprocess.Popen[bytes]]]:
    """The workers started; on the way out (an interrupt included) each is interrupted as
    Ctrl-C would (its report written, the scenario it was in not reached) and waited for."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for n, command in enumerate(commands):
            with open(logs / f"worker-{n + 1}.log", "wb") as log:
                # Its own process group: a Ctrl-C at the terminal reaches the run, which
                # interrupts each worker once (a second interrupt would cut its report short).
                # And it dies with the run, were the run killed outright (kill -9).
                processes.append(subprocess.Popen(command, env=env, stdout=log,
                                                  stderr=subprocess.STDOUT, process_group=0,
                                                  preexec_fn=die_with(os.getpid())))
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait()
            except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
                process.kill()
                process.wait()


def _wait(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.wait()


def run_parts(config: Any, settings: Settings, features: list[Any], folder: Path) -> list[Path]:
    """Every part run (the target opened once for all), their report folders."""
    try:
        durations = durations_of(str(Path(settings.report_dir) / "latest" / "results.json"))
    except (OSError, ResultsFileError):
        durations = {}
    groups, serial = plan(units_of(features, config), settings.workers, durations)
    phases = [groups] + ([[serial]] if serial else [])
    stop = folder / "stopped"
    folders: list[Path] = []
    crowd = largest_crowd(features)
    with open_target(settings, crowd) as target:
        env = {**os.environ, **attach_env(target), STOP_FILE: str(stop)}
        for phase in phases:
            commands = []
            for group in phase:
                folders.append(folder / f"part-{len(folders) + 1}")
                commands.append(worker_command(config, settings, folders[-1], group))
            with _workers(commands, env, folder) as processes:
                _wait(processes)
    return folders


def _listing(result: RunResult) -> None:
    """The run's scenarios in file order, one line each, and what each one not passed found."""
    for scenario in result.scenarios:
        took = f" ({seconds(scenario.duration_s)})" if scenario.status in RAN else ""
        say(f"  {scenario.status:<10}  {scenario.feature}: {scenario.name}{took}")
        if scenario.status not in (Status.PASSED, Status.UNTESTED):
            say(f"  {'':<10}  {scenario.key_finding}")
    say(f"{tally(result.scenarios)} in {seconds(result.facts.duration_s)}")


def run_in_workers(config: Any, settings: Settings, features: list[Any]) -> GateOutcome:
    """The selection run by `settings.workers` processes at once, concluded as one run."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stagecheck-workers-") as temporary:
        folder = Path(temporary)
        say(f"stagecheck: running the selection in {settings.workers} workers at once")
        interrupted = False
        try:
            folders = run_parts(config, settings, features, folder)
        except KeyboardInterrupt:
            interrupted = True
            folders = sorted(p for p in folder.glob("part-*") if p.is_dir())
        try:
            result = merge([f for f in folders if (f / "latest").exists()])
        except ShardError as exc:
            logs = "; ".join(p.read_text(errors="replace").strip().splitlines()[-1]
                             for p in sorted(folder.glob("worker-*.log")) if p.read_text().strip())
            raise ConfigError(f"the workers' results cannot be merged: {exc} ({logs})") from None
    result.facts.interrupted = result.facts.interrupted or interrupted
    result.facts.duration_s = round(time.perf_counter() - started, 3)  # start-ups included
    _listing(result)
    return publish_assembled(result, settings)

