"""behave's runner, made to speak the verdict: settings, business tags and the selection checked
before anything runs (one sentence, exit 2, no report), and the exit status set from the verdict
(0 GO, 1 NO-GO, 3 AT RISK, 2 could not judge, 130 interrupted) with the verdict line printed last.

Selected in `[tool.behave] runner` of pyproject.toml: a behave runner plugin, not a runner of
our own; everything else is behave's.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from behave.__main__ import print_undefined_step_snippets
from behave.parser import ParserError
from behave.runner import Runner

from ..config.settings import Settings, load_settings
from ..errors import ConfigError, ResultsFileError
from ..lifetime import interruptible
from ..outputs.verdict import record_not_judged, record_refusal
from ..report.impact import check_business_tags
from ..run.record import new_run_id
from ..vocabulary import ExitCode
from ..wording import plural
from .console import parse_failure, summarize_selection_only
from .pool import adopt_run_settings
from .selection import behavex_worker, check_selection, select_shard
from .workers import alone_last, own_outputs


def _stop(message: str, report_dir: str) -> SystemExit:
    """Refused before anything ran: the sentence, then the verdict line with it as the reason.
    Nothing is written but what `record_refusal` does for `latest`."""
    record_refusal(report_dir, new_run_id(), message)
    print(f"stagecheck: {message}", file=sys.stderr, flush=True)
    print(f"Release gate: could not judge · {message} · exit {ExitCode.NOT_JUDGED}",
          file=sys.__stdout__ or sys.stdout, flush=True)
    return SystemExit(ExitCode.NOT_JUDGED)


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the report
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def terminate_like_interrupt() -> None:
    """SIGTERM (how CI cancels a job) ends the run as Ctrl-C does: the fixtures unwind (the
    stand-in and its temporary folder go away) and the report is written, marked interrupted."""
    signal.signal(signal.SIGTERM, _as_interrupt)
    interruptible()


class GateRunner(Runner):
    says_verdict = True  # the fixtures leave the verdict line to this runner
    gate_settings: Settings

    def run(self) -> bool:
        adopt_run_settings(self.config.userdata)  # a worker of a run in workers
        try:
            self.gate_settings = load_settings(self.config.userdata)
        except ConfigError as exc:
            raise _stop(str(exc), str(self.config.userdata.get("report_dir") or "reports")
                        ) from None
        terminate_like_interrupt()
        try:
            super().run()
        except ParserError as exc:
            raise _stop(f"a feature file cannot be read: {parse_failure(exc)}",
                        self.gate_settings.report_dir) from None
        outcome = getattr(self.context, "gate_outcome", None)
        if self.config.show_snippets and self.undefined_steps:
            print_undefined_step_snippets(self.undefined_steps,
                                          colored=self.config.has_colored_mode())
        if self.config.dry_run:  # behave runs no hook: nothing was judged, and nothing is wrong
            print(f"Release gate: dry run · {self._selected()} selected, none run, nothing "
                  f"judged · exit {ExitCode.GO}", file=sys.__stdout__ or sys.stdout, flush=True)
            raise SystemExit(ExitCode.GO)
        if outcome is None:  # the run fixture never concluded (a hook failed before it)
            why = getattr(self.context, "gate_not_judged", "") or "the run ended before its report"
            self._not_judged(why)
            print(f"Release gate: could not judge · {why} · exit {ExitCode.NOT_JUDGED}",
                  file=sys.__stdout__ or sys.stdout, flush=True)
            raise SystemExit(ExitCode.NOT_JUDGED)
        print(outcome.line(), file=sys.__stdout__ or sys.stdout, flush=True)
        raise SystemExit(outcome.exit_code)

    def _selected(self) -> str:
        """How many scenarios the tags and names select, in words."""
        count = sum(1 for feature in self.features for scenario in feature.walk_scenarios()
                    if scenario.should_run_with_tags(self.config.tag_expression)
                    and scenario.should_run_with_name_select(self.config))
        return plural(count, "scenario")

    def _not_judged(self, reason: str) -> None:
        """latest/verdict.json says this run was not judged, never an older run's verdict."""
        run = getattr(self.context, "run", None)
        run_id = run.recorder.run_id if run is not None else new_run_id()
        record_not_judged(self.gate_settings.report_dir, run_id, reason, ExitCode.NOT_JUDGED,
                          bool(getattr(self.context, "aborted", False)))

    def _in_workers(self) -> bool:
        """A run that may start workers: asked for (or the default on a deployed target, but
        for behave's own outputs, which see one process), not itself a piece of one."""
        settings = self.gate_settings
        if own_outputs(self.config) and "workers" not in self.config.userdata:
            return False
        return (settings.workers > 1 and not settings.shard and not settings.partial
                and not behavex_worker(self.config.userdata) and not self.config.dry_run)

    def run_model(self, features: Any = None) -> bool:
        try:
            check_business_tags(self.features)
            check_selection(self.features, self.config)
        except ConfigError as exc:
            raise _stop(str(exc), self.gate_settings.report_dir) from None
        if self._in_workers():
            if own_outputs(self.config):
                raise _stop("behave's own outputs (--junit, -o, a formatter such as json) see "
                            "one process, and a run in workers has several: use its "
                            "results.json and reports, or workers=1",
                            self.gate_settings.report_dir)
            return self._run_in_workers()
        if self.gate_settings.shard:
            index, count = self.gate_settings.shard
            try:
                self.context.gate_shard = select_shard(self.features, self.config, index, count,
                                                       self.gate_settings.shard_timings)
            except (OSError, ResultsFileError) as exc:
                raise _stop(f"setting shard_timings cannot be read: {exc}",
                            self.gate_settings.report_dir) from None
        summarize_selection_only(self.config, self.features)
        return bool(super().run_model(features))

    def _run_in_workers(self) -> bool:
        """The run's own process runs the selection and starts workers while the target keeps
        it waiting (see workers.py)."""
        summarize_selection_only(self.config, self.features)
        with tempfile.TemporaryDirectory(prefix="stagecheck-workers-") as folder:
            self.context.gate_workers_folder = Path(folder)
            return bool(super().run_model(alone_last(self.features, self.config)))
