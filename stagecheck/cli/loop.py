"""`stagecheck loop [behave options] --until-green --max-runs N --interval S [--on-new-deploy]
[--max-time S]`: run the gate again and again (each run a behave process of its own) until it is
green, optionally only when a new build is deployed; bounded in runs and in time."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from behave.configuration import Configuration
from behave.tag_expression.parser import TagExpressionError

from ..client.bounded import get_bounded
from ..client.redact import redact_url
from ..config.settings import Settings, load_settings
from ..config.timeouts import CHILD_STOP_S
from ..errors import ConfigError, HistoryError, LoopError, ResultsFileError, TargetError
from ..history.store import History
from ..platform.contract import reported_version
from ..report.model import RunResult, target_key
from ..report.render import environment
from ..report.view import money
from ..vocabulary import Classification, Decision, ExitCode, LoopEnd, Status, TargetKind
from ..wording import plural

Say = Callable[[str], None]
NO_REPORT = "NO REPORT"  # the run wrote no report: its verdict is unknown


@dataclass(frozen=True)
class LoopOptions:
    behave_args: list[str]
    until_green: bool = False
    max_runs: int = 10
    interval_s: float = 60.0
    on_new_deploy: bool = False
    max_time_s: float = 3600.0


@dataclass
class Iteration:
    number: int
    run_id: str
    verdict: str
    at_risk: float
    version: str
    duration_s: float
    exit_code: int
    newly_failing: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    # not judged, and only the environment is blamed: it may recover, so another run can help
    environment_only: bool = False

    @property
    def refused(self) -> bool:
        """Not judged for a cause that another run would meet again: the settings, the tags
        (nothing selected), the gate's own defect, or behave's own refusal before any report
        (a configuration error it ends with 1 and a sentence of its own)."""
        if self.verdict == NO_REPORT:  # killed by a signal (OOM, kill): another run may help
            return self.exit_code in (ExitCode.NO_GO, ExitCode.NOT_JUDGED)
        return self.exit_code == ExitCode.NOT_JUDGED and not self.environment_only


@dataclass
class LoopSummary:
    iterations: list[Iteration]
    outcome: str  # in words, for the summary
    green: bool
    time_to_green_s: float | None
    path: Path | None = None
    end: LoopEnd = LoopEnd.STOPPED

    @property
    def exit_code(self) -> int:
        if self.end == LoopEnd.INTERRUPTED:
            return ExitCode.INTERRUPTED
        if self.end == LoopEnd.NOT_JUDGED or (
                self.iterations and self.iterations[-1].exit_code == ExitCode.NOT_JUDGED):
            return ExitCode.NOT_JUDGED
        return ExitCode.GO if self.green else ExitCode.NO_GO


def loop_settings(behave_args: list[str]) -> Settings:
    """The settings behave will use for these arguments (pyproject.toml and -D)."""
    config = Configuration(command_args=list(behave_args), load_config=True)
    return load_settings(config.userdata)


def deployed_version(settings: Settings) -> str | None:
    """The version the target's health reports now; None when it does not answer."""
    try:
        return reported_version(get_bounded(f"{settings.base_url}/health",
                                            settings.health_timeout,
                                            verify=not settings.insecure_tls).json())
    except (httpx.HTTPError, TargetError, ValueError):
        return None


class DeployLoop:
    def __init__(self, options: LoopOptions, say: Say = print,
                 on_iteration: Callable[[Iteration], None] | None = None) -> None:
        self.options = options
        self.say = say
        self.on_iteration = on_iteration
        self.settings = loop_settings(options.behave_args)
        if options.on_new_deploy and self.settings.target == TargetKind.LOCAL:
            raise LoopError("--on-new-deploy needs a deployed target (-D target=staging): the "
                            "embedded stand-in is new at every run")
        self.reports = Path(self.settings.report_dir)
        self.key = target_key(self.settings.target, redact_url(self.settings.base_url),
                              self.settings.standin_faults, self.settings.standin_variant)
        self.started = time.monotonic()
        self.deadline = self.started + options.max_time_s

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def _latest(self) -> RunResult | None:
        """The run `latest` points at, read through the result model; None when unreadable."""
        try:
            return RunResult.from_json((self.reports / "latest" / "results.json").read_text())
        except (OSError, ResultsFileError):
            return None

    def _latest_run_id(self) -> str:
        latest = self._latest()
        return latest.facts.run_id if latest else ""

    def _wait(self, seconds: float, why: str) -> bool:
        """Sleep up to `seconds` (never past the time limit), saying why; False at the limit."""
        seconds = min(seconds, self._left())
        if seconds <= 0:
            return False
        self.say(f"loop: {why}; next check in {seconds:.0f} s")
        time.sleep(seconds)
        return self._left() > 0

    def _wait_for_new_deploy(self) -> bool:
        checks = 0
        while True:
            try:
                tested = History(self.settings.history).tested_versions(self.key)
            except HistoryError as exc:
                raise LoopError(str(exc)) from None
            version = deployed_version(self.settings)
            checks += 1
            if version and version not in tested:
                self.say(f"loop: new deploy, health reports version {version}")
                return True
            seen = f"health reports version {version}, already tested" if version else \
                f"health at {redact_url(self.settings.base_url)} does not answer"
            if not self._wait(self.options.interval_s,
                              f"waiting for a new deploy ({seen}; {plural(checks, 'check')}, "
                              f"{time.monotonic() - self.started:.0f} s so far)"):
                return False

    def _run_once(self, number: int) -> Iteration:
        before = self._latest_run_id()
        started = time.monotonic()
        self.say(f"loop: run {number} of at most {self.options.max_runs}")
        child = subprocess.Popen([sys.executable, "-m", "behave", *self.options.behave_args])
        try:
            code = child.wait(timeout=max(self._left(), 1))
        except subprocess.TimeoutExpired:
            self.say("loop: time limit reached during a run; stopping it")
            child.send_signal(signal.SIGINT)  # behave writes its report, marked interrupted
            try:
                code = child.wait(timeout=CHILD_STOP_S)
            except subprocess.TimeoutExpired:
                child.kill()
                code = child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=CHILD_STOP_S)
            except subprocess.TimeoutExpired:
                child.kill()
            raise
        duration = time.monotonic() - started
        latest = self._latest()
        if latest is None or latest.facts.run_id == before:
            return Iteration(number, "", NO_REPORT, 0.0, "", duration, code)
        changes = latest.changes
        blamed = {s.classification for s in latest.scenarios if s.status == Status.NOT_JUDGED}
        return Iteration(number, latest.facts.run_id, latest.verdict.decision,
                         latest.impact.revenue_at_risk, latest.facts.target_version, duration, code,
                         changes.newly_failing if changes else [], changes.fixed if changes else [],
                         blamed == {Classification.ENVIRONMENT})

    def run(self) -> LoopSummary:
        iterations: list[Iteration] = []
        outcome, end, green_at = "", LoopEnd.STOPPED, None
        try:
            for number in range(1, self.options.max_runs + 1):
                if self.options.on_new_deploy and not self._wait_for_new_deploy():
                    outcome, end = "time limit reached while waiting for a new deploy", LoopEnd.TIME_LIMIT
                    break
                iteration = self._run_once(number)
                iterations.append(iteration)
                self.say(f"loop: run {number}: {iteration.verdict}, {money(iteration.at_risk)} "
                         f"at risk, version {iteration.version or 'unknown'}")
                if self.on_iteration:
                    self.on_iteration(iteration)
                if iteration.refused:
                    # a setting or tag the gate refuses: running again would refuse it again
                    outcome, end = ("stopped: the gate could not judge (its sentence is above); "
                                    "running it again would not help"), LoopEnd.NOT_JUDGED
                    break
                if iteration.verdict == Decision.GO:
                    green_at = time.monotonic() - self.started
                    if self.options.until_green:
                        outcome = ("green at the first run" if number == 1
                                   else f"fixed after {number} runs")
                        end = LoopEnd.GREEN
                        break
                if number == self.options.max_runs:
                    outcome, end = f"stopped after {number} runs (--max-runs)", LoopEnd.MAX_RUNS
                    break
                if self._left() <= 0 or (not self.options.on_new_deploy and not self._wait(
                        self.options.interval_s, f"run {number} done ({iteration.verdict})")):
                    outcome, end = "time limit reached (--max-time)", LoopEnd.TIME_LIMIT
                    break
        except KeyboardInterrupt:
            outcome, end = "interrupted", LoopEnd.INTERRUPTED
        green = bool(iterations) and iterations[-1].verdict == Decision.GO
        summary = LoopSummary(iterations, outcome or "stopped", green,
                              green_at if green else None, end=end)
        summary.path = self._write(summary)
        for line in render_summary(summary).splitlines():
            self.say(line)
        return summary

    def _write(self, summary: LoopSummary) -> Path | None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self.reports / f"loop-{stamp}.md"
        try:
            self.reports.mkdir(parents=True, exist_ok=True)
            path.write_text(render_summary(summary), encoding="utf-8")
        except OSError as exc:
            self.say(f"loop: the summary could not be written to {path}: {exc.strerror}")
            return None
        return path


def render_summary(summary: LoopSummary) -> str:
    """The loop's summary in Markdown (templates/loop.md.j2)."""
    return environment().get_template("loop.md.j2").render(summary=summary, money=money)


HELP = "re-run the gate until it is green"
DESCRIPTION = "Re-run the gate (each run a behave process) until it is green, bounded in runs and time."
PASSES_THROUGH = True  # the options it does not know are behave's


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: a number of this kind, above zero."""
    def convert(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until-green", action="store_true", help="stop at the first GO")
    parser.add_argument("--max-runs", type=_positive(int), default=10, help="at most this many runs")
    parser.add_argument("--interval", type=_positive(float), default=60.0, metavar="S",
                        help="seconds between runs, or between checks for a new deploy")
    parser.add_argument("--on-new-deploy", action="store_true",
                        help="run only when the target's health reports a version not tested yet")
    parser.add_argument("--max-time", type=_positive(float), default=3600.0, metavar="S",
                        help="total time limit in seconds (default %(default)s)")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    """The loop with behave's arguments `rest`; its exit status."""
    options = LoopOptions(rest, args.until_green, args.max_runs, args.interval,
                          args.on_new_deploy, args.max_time)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        summary = DeployLoop(options, say).run()
    except (ConfigError, LoopError) as exc:
        print(f"stagecheck loop: {exc}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    except TagExpressionError as exc:
        first = str(exc).splitlines()[0]
        print(f"stagecheck loop: the tag expression does not parse ({first}); nothing was run",
              file=sys.stderr)
        return ExitCode.NOT_JUDGED
    if summary.path:
        say(f"loop: summary written to {summary.path}")
    return summary.exit_code
