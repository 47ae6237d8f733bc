"""The service's runs: each a behave process of its own (with the service's settings, recorded
in the history like a command-line run) against one allow-listed target, bounded by a
deadline; one run per target at a time, a request for the same run joins it, and at most
`service_queue` runs held at once. The verdict is read from verdict.json and results.json."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config.settings import Settings
from ..config.timeouts import CHILD_STOP_S
from ..errors import ResultsFileError, ServiceRequestError
from ..outputs.metrics import NOT_JUDGED
from ..outputs.notify import critical_finding
from ..report.model import RunResult
from ..vocabulary import RunStatus
from .targets import target_defines

TOKEN_ENV = "STAGECHECK_SERVICE_TOKEN"
STOP_GRACE_S = CHILD_STOP_S  # after SIGINT, a run writes its report marked interrupted
CONSOLE = "console.log"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(eq=False)
class GateRun:
    """One run of the gate on request: what was asked, where it runs, what it concluded."""

    id: str
    target: str
    tags: tuple[str, ...]
    version: str
    folder: Path
    requested_at: str = field(default_factory=_now)
    status: RunStatus = RunStatus.QUEUED
    started_at: str = ""
    finished_at: str = ""
    exit_code: int | None = None
    result: RunResult | None = None
    verdict: dict[str, Any] = field(default_factory=dict)
    problem: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def tag_expression(self) -> str:
        return " and ".join(f"({t})" if " " in t else t for t in self.tags)

    def report_file(self, name: str) -> Path | None:
        path = self.folder / "latest" / name
        return path if path.is_file() else None

    @property
    def other_build(self) -> str:
        """Why the verdict is not about the build asked for ("" when it is, or none was named):
        the target reports another version, or none (its version is read after the run)."""
        if not self.version or self.result is None:
            return ""
        reported = self.result.facts.target_version
        if not reported:
            return (f"the target names no version, so this run cannot be said to judge build "
                    f"{self.version}")
        if reported != self.version:
            return (f"the target runs build {reported}, not {self.version}: this verdict is not "
                    f"about the build asked for")
        return ""

    def to_json(self, report_url: str) -> dict[str, Any]:
        """What a pipeline reads: the status, then the verdict once there is one (never a GO
        for another build than the one asked about)."""
        result = self.result
        facts = result.facts if result else None
        reported = facts.target_version if facts else ""
        judged = result is not None and not self.other_build
        return {
            "id": self.id, "status": self.status, "target": self.target,
            # One field for a poller (Spinnaker's statusJsonPath): the status, then the verdict.
            "outcome": (str(result.verdict.decision) if result and judged else NOT_JUDGED)
            if self.status == RunStatus.FINISHED else str(self.status),
            "tags": self.tag_expression, "version": self.version or None,
            "decision": result.verdict.decision if result else None,
            "reason": (result.verdict.reason if judged else self.other_build) if result
            else self.problem,
            "revenue_at_risk": result.impact.revenue_at_risk if result else None,
            "revenue_unverified": result.impact.revenue_unverified if result else None,
            "critical_finding": critical_finding(result) if result else "",
            "counts": self.verdict.get("counts"),
            "report_url": report_url if result else None,
            "run_id": facts.run_id if facts else None,
            "target_version": reported or None,
            "version_matches": (reported == self.version) if self.version and reported else None,
            "interrupted": facts.interrupted if facts else None,
            "exit_code": self.exit_code,
            "problem": self.problem,
            "requested_at": self.requested_at, "started_at": self.started_at or None,
            "finished_at": self.finished_at or None,
        }


class RunQueue:
    """The runs the service holds: running or waiting for their target, and the finished ones
    (the newest `keep_runs`)."""

    def __init__(self, settings: Settings, define_args: list[str], folder: Path,
                 environ: Mapping[str, str], on_finish: Callable[[GateRun], None]) -> None:
        self.settings = settings
        self.define_args = list(define_args)
        self.folder = folder
        self.history = str(Path(settings.history).resolve())
        self.environ = {k: v for k, v in environ.items() if k != TOKEN_ENV}  # runs never need it
        self.on_finish = on_finish
        self.runs: dict[str, GateRun] = {}
        self.lines: dict[str, list[GateRun]] = {}  # target -> its unfinished runs, first running
        self.tasks: set[asyncio.Task[None]] = set()

    def get(self, run_id: str) -> GateRun | None:
        return self.runs.get(run_id)

    @property
    def held(self) -> int:
        return sum(len(line) for line in self.lines.values())

    def submit(self, target: str, tags: tuple[str, ...], version: str) -> tuple[GateRun, bool]:
        """The run for this request: an unfinished one asking the same (joined), or a new one;
        ServiceRequestError 429 when the queue is full."""
        line = self.lines.setdefault(target, [])
        for run in line:
            if run.tags == tags and run.version == version:
                return run, True
        if self.held >= self.settings.service_queue:
            raise ServiceRequestError(429, f"the service already holds {self.held} runs (service_queue="
                                    f"{self.settings.service_queue}); ask again when one is done")
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        run = GateRun(run_id, target, tags, version, self.folder / "runs" / run_id)
        self.runs[run_id] = run
        line.append(run)
        if len(line) == 1:
            self._start(run)
        return run, False

    def _start(self, run: GateRun) -> None:
        task = asyncio.get_running_loop().create_task(self._run(run), name=f"run {run.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def command(self, run: GateRun) -> list[str]:
        """The behave command of a run: the service's settings, then the run's own."""
        return [sys.executable, "-m", "behave", *(f"--tags={t}" for t in run.tags),
                *self.define_args, *target_defines(run.target),
                *(("-D", f"expected_version={run.version}") if run.version else ()),
                "-D", f"report_dir={run.folder}", "-D", f"history={self.history}"]

    async def _run(self, run: GateRun) -> None:
        try:
            await self._execute(run)
        finally:
            run.status = RunStatus.FINISHED
            run.finished_at = _now()
            line = self.lines.get(run.target, [])
            if run in line:
                line.remove(run)
            if line:
                self._start(line[0])
            elif run.target in self.lines:
                del self.lines[run.target]
            run.done.set()
            self._forget_old()
            self.on_finish(run)

    async def _execute(self, run: GateRun) -> None:
        run.status, run.started_at = RunStatus.RUNNING, _now()
        try:
            run.folder.mkdir(parents=True, exist_ok=True)
            console = open(run.folder / CONSOLE, "wb")  # noqa: SIM115 - closed below, with the run
        except OSError as exc:
            run.problem = f"the run's folder cannot be written: {exc.strerror or exc}"
            return
        with console:
            try:
                child = await asyncio.create_subprocess_exec(
                    *self.command(run), stdin=subprocess.DEVNULL, stdout=console,
                    stderr=subprocess.STDOUT, env=self.environ)
            except OSError as exc:
                run.problem = f"the gate could not be started: {exc.strerror or exc}"
                return
            try:
                run.exit_code = await asyncio.wait_for(child.wait(), self.settings.service_deadline)
            except TimeoutError:
                run.problem = (f"the run took longer than service_deadline "
                               f"({self.settings.service_deadline:g} s) and was stopped")
                run.exit_code = await _stop(child)
            except asyncio.CancelledError:  # the service is shutting down
                await _stop(child)
                raise
        self._read(run)

    def _read(self, run: GateRun) -> None:
        """The run's verdict from its verdict.json and results.json, never from its console."""
        try:
            run.verdict = json.loads((run.folder / "latest" / "verdict.json").read_text())
            run.result = RunResult.from_json((run.folder / "latest" / "results.json").read_text())
        except (OSError, ValueError, ResultsFileError):
            run.result = None
            run.problem = run.problem or self._why_not_judged(run)

    def _why_not_judged(self, run: GateRun) -> str:
        """The gate's own one-sentence error (its `stagecheck:` line), or the exit status."""
        try:
            lines = (run.folder / CONSOLE).read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        said = [line.removeprefix("stagecheck: ") for line in lines
                if line.startswith("stagecheck: ")]
        return said[-1] if said else f"the gate ended with exit {run.exit_code} and no verdict"

    def _forget_old(self) -> None:
        keep = self.settings.keep_runs
        finished = [r for r in self.runs.values() if r.status == RunStatus.FINISHED]
        if keep <= 0 or len(finished) <= keep:
            return
        for run in finished[:len(finished) - keep]:
            del self.runs[run.id]
            shutil.rmtree(run.folder, ignore_errors=True)

    async def close(self) -> None:
        """Stop every run (each writes its report, marked interrupted)."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=STOP_GRACE_S + 5)


async def _stop(child: asyncio.subprocess.Process) -> int:
    """SIGINT (behave writes its report, marked interrupted), then kill after a grace period."""
    if child.returncode is None:
        child.send_signal(signal.SIGINT)
    try:
        return await asyncio.wait_for(child.wait(), STOP_GRACE_S)
    except TimeoutError:
        child.kill()
        return await child.wait()
