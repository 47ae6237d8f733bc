"""The service's runs: each a behave process of its own (with the service's settings, recorded
in the history like a command-line run) against one allow-listed target, bounded by a
deadline; one run per target at a time, a request joins a run that asks the same and has not
started yet, and at most `service_queue` runs are held at once. The verdict is read from
verdict.json and results.json; what the service said of a run is kept beside them (run.json),
so that a restart forgets nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config.settings import Settings
from ..config.timeouts import CHILD_STOP_S
from ..errors import HistoryError, ResultsFileError, ServiceRequestError
from ..history.store import History, process_start
from ..outputs.metrics import NOT_JUDGED
from ..outputs.notify import critical_finding
from ..report.model import RunResult
from ..run.record import new_run_id
from ..vocabulary import Decision, RunStatus
from .children import kill_child, start_child, stop_child
from .stored import old_folders, read_record, remove_folders, write_record
from .targets import target_defines

TOKEN_ENV = "STAGECHECK_SERVICE_TOKEN"
STOP_GRACE_S = CHILD_STOP_S  # after SIGINT, a run writes its report marked interrupted
CONSOLE = "console.log"
IN_MEMORY = 200  # finished runs kept in memory; older ones are read from their folder again
STOPPED_BY_SERVICE = "the service was asked to stop during the run, which was interrupted"
LOST = "the service ended during this run, which was left unfinished"
NOT_STARTED = "the service was asked to stop before this run began"


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
    stopped: str = ""  # why the service stopped the run (its deadline, its own shutdown)
    process: tuple[int, str] | None = None  # the behave child's pid and start, as the history has them
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def tag_expression(self) -> str:
        return " and ".join(f"({t})" if " " in t else t for t in self.tags)

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
            return (f"the target reports {reported}, not {self.version}: this verdict is not "
                    f"about the build asked for")
        return ""

    @property
    def not_judged(self) -> str:
        """Why the service gives no verdict for this finished run ("" when it gives one)."""
        if self.stopped:
            return self.stopped
        if self.result is None:
            return self.problem or "the run wrote no result"
        if self.result.verdict.decision == Decision.NOT_JUDGED:
            return self.result.verdict.reason
        return self.other_build

    def to_json(self, report_url: str) -> dict[str, Any]:
        """What a pipeline reads: the status, then the verdict once there is one (never a GO
        for another build than the one asked about, or for a run the service stopped)."""
        result = self.result
        facts = result.facts if result else None
        reported = facts.target_version if facts else ""
        finished = self.status == RunStatus.FINISHED
        why = self.not_judged if finished else ""
        return {
            "id": self.id, "status": self.status, "target": self.target,
            # One field for a poller (Spinnaker's statusJsonPath): the status, then the verdict.
            "outcome": (NOT_JUDGED if why else str(result.verdict.decision)) if finished and result
            else NOT_JUDGED if finished else str(self.status),
            "tags": self.tag_expression, "version": self.version or None,
            "decision": Decision.NOT_JUDGED if why
            else result.verdict.decision if result else None,
            "reason": why or (result.verdict.reason if result else self.problem),
            "revenue_at_risk": result.impact.revenue_at_risk if result else None,
            "revenue_unverified": result.impact.revenue_unverified if result else None,
            "critical_finding": critical_finding(result) if result else "",
            "counts": self.verdict.get("counts"),
            "report_url": report_url if result else None,
            "target_version_at_start": (facts.target_version_at_start or None) if facts else None,
            "target_version": reported or None,
            "version_matches": (reported == self.version) if self.version and reported else None,
            "interrupted": facts.interrupted if facts else None,
            "exit_code": self.exit_code,
            "problem": self.problem,
            "requested_at": self.requested_at, "started_at": self.started_at or None,
            "finished_at": self.finished_at or None,
        }

    def record(self) -> dict[str, Any]:
        """What run.json keeps: the request, and what the service said of the run."""
        return {"id": self.id, "target": self.target, "tags": list(self.tags),
                "version": self.version, "status": self.status, "requested_at": self.requested_at,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "exit_code": self.exit_code, "problem": self.problem, "stopped": self.stopped}

    @classmethod
    def from_record(cls, record: dict[str, Any], folder: Path) -> GateRun:
        """A run found on disk: finished (one the service left unfinished is said to be lost)."""
        unfinished = record.get("status") != RunStatus.FINISHED
        run = cls(str(record["id"]), str(record["target"]), tuple(map(str, record["tags"])),
                  str(record.get("version") or ""), folder, str(record.get("requested_at") or ""),
                  RunStatus.FINISHED, str(record.get("started_at") or ""),
                  str(record.get("finished_at") or ""), record.get("exit_code"),
                  problem=str(record.get("problem") or ""),
                  stopped=LOST if unfinished else str(record.get("stopped") or ""))
        run.done.set()
        return run


def _gate_run_id(run: GateRun) -> str:
    """The id the gate gave the run in the history ("" when it left no results and no verdict)."""
    if run.result is not None:
        return run.result.facts.run_id
    said = run.verdict.get("run_id")
    return said if isinstance(said, str) else ""


class RunQueue:
    """The runs the service holds: running or waiting for their target, and the finished ones
    (the newest in memory, every kept one on disk under runs/)."""

    def __init__(self, settings: Settings, define_args: list[str], folder: Path,
                 environ: Mapping[str, str], on_finish: Callable[[GateRun], None],
                 grace: float = STOP_GRACE_S) -> None:
        self.settings = settings
        self.define_args = list(define_args)
        self.folder = folder
        self.history = str(Path(settings.history).resolve())
        self.environ = {k: v for k, v in environ.items() if k != TOKEN_ENV}  # runs never need it
        self.on_finish = on_finish
        self.grace = grace  # a stopped child's time to write its report before it is killed
        self.runs: dict[str, GateRun] = {}
        self.lines: dict[str, list[GateRun]] = {}  # target -> its unfinished runs, first running
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()  # set once: the service is shutting down
        self.loop: asyncio.AbstractEventLoop | None = None
        remove_folders(folder / "runs", old_folders(folder / "runs", settings.keep_runs, ()))

    def get(self, run_id: str) -> GateRun | None:
        """The run, from memory or, when it has left memory or the service restarted, from its
        folder."""
        run = self.runs.get(run_id)
        if run is not None:
            return run
        record = read_record(self.folder / "runs", run_id)
        if record is None:
            return None
        try:
            run = GateRun.from_record(record, self.folder / "runs" / run_id)
        except (KeyError, TypeError, ValueError):
            return None
        self._read(run)
        self.runs[run.id] = run
        self._forget_old()
        return run

    @property
    def held(self) -> int:
        return sum(len(line) for line in self.lines.values())

    def submit(self, target: str, tags: tuple[str, ...], version: str) -> tuple[GateRun, bool]:
        """The run for this request: a queued one asking the same (joined: it has not started,
        so it will see the build deployed now), or a new one; ServiceRequestError 429 when the
        queue is full, 503 when the service is shutting down."""
        if self.stopping.is_set():
            raise ServiceRequestError(503, "the service is shutting down; ask its next instance")
        line = self.lines.setdefault(target, [])
        for run in line:
            if run.status == RunStatus.QUEUED and run.tags == tags and run.version == version:
                return run, True
        if self.held >= self.settings.service_queue:
            raise ServiceRequestError(429, f"the service already holds {self.held} runs (service_queue="
                                    f"{self.settings.service_queue}); ask again when one is done")
        run_id = new_run_id(random_digits=3)  # sorts in the order asked: retention by id
        run = GateRun(run_id, target, tags, version, self.folder / "runs" / run_id)
        self.runs[run_id] = run
        line.append(run)
        self._save(run)
        if len(line) == 1:
            self._start(run)
        return run, False

    def _save(self, run: GateRun) -> None:
        with contextlib.suppress(OSError):  # the run says so itself: its folder cannot be written
            write_record(run.folder, run.record())

    def _start(self, run: GateRun) -> None:
        run.status = RunStatus.RUNNING  # from now on, no request joins it
        task = asyncio.get_running_loop().create_task(self._run(run), name=f"run {run.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def command(self, run: GateRun) -> list[str]:
        """The behave command of a run: the service's settings, then the run's own."""
        return [sys.executable, "-m", "behave", *(f"--tags={t}" for t in run.tags),
                *self.define_args, *target_defines(run.target),
                *(("-D", f"expected_version={run.version}") if run.version else ()),
                "-D", f"report_dir={run.folder}", "-D", f"history={self.history}",
                "-D", "catalog_url=/runs/catalog.html"]  # the service serves it there

    async def _run(self, run: GateRun) -> None:
        try:
            await self._execute(run)
            if run.not_judged:  # before anyone is told
                await asyncio.to_thread(self._withdraw, run)
        finally:
            self._finish(run)
            line = self.lines.get(run.target, [])
            if run in line:
                line.remove(run)
            if line and not self.stopping.is_set():
                self._start(line[0])
            else:
                for left in line:
                    left.problem = left.stopped = NOT_STARTED
                    self._finish(left)
                self.lines.pop(run.target, None)
            await self._prune()
            self._forget_old()

    def _finish(self, run: GateRun) -> None:
        run.status = RunStatus.FINISHED
        run.finished_at = _now()
        self._save(run)
        run.done.set()
        self.on_finish(run)

    def _withdraw(self, run: GateRun) -> None:
        """The history says "not judged" whenever the service does: the run the gate named, or
        (killed before it named one) the run its process left running."""
        gate_run_id = _gate_run_id(run)
        if not gate_run_id and run.process is None:
            return
        try:
            history = History(self.history)
        except HistoryError:
            return
        try:
            if gate_run_id:
                history.not_judged(gate_run_id)
            elif run.process is not None:
                history.not_judged_process(*run.process)
        except HistoryError:
            pass
        finally:
            history.close()

    async def _execute(self, run: GateRun) -> None:
        run.started_at = _now()
        self._save(run)
        try:
            run.folder.mkdir(parents=True, exist_ok=True)
            console = open(run.folder / CONSOLE, "wb")  # noqa: SIM115 - closed below, with the run
        except OSError as exc:
            run.problem = f"the run's folder cannot be written: {exc.strerror or exc}"
            return
        with console:
            try:
                child = await start_child(self.command(run), console.fileno(), self.environ)
            except OSError as exc:
                run.problem = f"the gate could not be started: {exc.strerror or exc}"
                return
            run.process = (child.pid, process_start(child.pid))
            try:
                run.exit_code = await self._wait(run, child)
            except asyncio.CancelledError:  # the service cannot wait any longer
                kill_child(child)
                raise
        self._read(run)

    async def _wait(self, run: GateRun, child: asyncio.subprocess.Process) -> int:
        """The child's exit status: it ends, or the deadline or the service's shutdown stops it."""
        ended = asyncio.ensure_future(child.wait())
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({ended, stop}, timeout=self.settings.service_deadline,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if ended.done():
            return ended.result()
        run.stopped = STOPPED_BY_SERVICE if self.stopping.is_set() else (
            f"the run reached service_deadline ({self.settings.service_deadline:g} s) and was "
            "stopped: the deadline ended it, not a verdict on the build")
        return await stop_child(child, self.grace)

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

    async def _prune(self) -> None:
        """Finished runs' folders beyond keep_runs are deleted (from before a restart as well),
        in a thread: a large folder never holds up the service's answers."""
        held = {run.id for line in self.lines.values() for run in line}
        gone = old_folders(self.folder / "runs", self.settings.keep_runs, held)  # decided here,
        for run_id in gone:  # so that a run submitted meanwhile is never among them
            self.runs.pop(run_id, None)
        await asyncio.to_thread(remove_folders, self.folder / "runs", gone)

    def _forget_old(self) -> None:
        """Finished runs beyond keep_runs (or IN_MEMORY) leave memory; a kept one is read from
        its folder again when asked for."""
        keep = self.settings.keep_runs
        finished = [r for r in self.runs.values() if r.status == RunStatus.FINISHED]
        in_memory = min(keep, IN_MEMORY) if keep > 0 else IN_MEMORY
        for run in finished[:max(len(finished) - in_memory, 0)]:
            self.runs.pop(run.id, None)

    def stop_soon(self) -> None:
        """From the signal handler: every run is interrupted now, before the service waits for
        its connections (each child writes its report, marked interrupted, within the grace)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stopping.set)

    async def close(self) -> None:
        """Stop every run (each writes its report, marked interrupted, or is killed after the
        grace period)."""
        self.stopping.set()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=self.grace + 1)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=1)
