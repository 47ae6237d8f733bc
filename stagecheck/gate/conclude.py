"""The end of a run: the result model, what changed since the last runs, the reports (with
verdict.json), the history, retention, and the outcome the exit status and verdict line carry."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client.redact import redact_url
from ..config.settings import Settings
from ..errors import HistoryError
from ..history.changes import compute_changes
from ..history.store import History
from ..outputs import publish_outputs
from ..outputs.console import say
from ..outputs.published import Published
from ..outputs.reports import prune_runs, report_link, write_reports
from ..outputs.verdict import VERDICT_FILE, record_not_judged, verdict_json
from ..report.build import build_result, build_scenarios, iso
from ..report.model import PART, RunResult, target_key
from ..report.view import load_scale_words, money
from ..run.record import RunRecorder
from ..run.world import RunState
from ..vocabulary import Decision, ExitCode
from .probes import probe_target


@dataclass(frozen=True)
class GateOutcome:
    """What a run concluded: the verdict (None when it could not be judged), where its report
    is (None when it could not be written, and why), and the exit status that says so."""

    decision: Decision | None
    reason: str
    revenue_at_risk: float
    report: Path | None
    problem: str
    interrupted: bool
    exit_code: ExitCode
    part: str = ""  # "shard 1/2 of ": the verdict of a shard is partial
    report_url: str = ""  # the published report (-D report_base_url=), "" when not published
    insecure_tls: bool = False  # certificates were not verified (-D insecure_tls=true)
    load_scale: float | None = None  # the load tier ran at this scale (-D load_scale=)

    def line(self) -> str:
        """The verdict line, always the last line of ours on the console: the verdict, its
        reason, the revenue at risk, the report and the exit status."""
        if self.decision is None:
            return f"Release gate: could not judge · {self.problem} · exit {self.exit_code}"
        state = " (interrupted)" if self.interrupted else ""
        gate = f"Release gate ({self.part.strip()} the selection, partial)" if self.part \
            else "Release gate"
        decision = "could not judge" if self.decision == Decision.NOT_JUDGED else self.decision
        tls = " · TLS certificates not verified (insecure_tls)" if self.insecure_tls else ""
        load = f" · {load_scale_words(self.load_scale)}" if load_scale_words(self.load_scale) \
            else ""
        if not self.report:  # a verdict no report stands behind is not given: exit 2 says so
            return (f"{gate}: could not judge{state} · no report: {self.problem} · the scenarios "
                    f"alone said {decision}: {self.reason} · revenue at risk "
                    f"{money(self.revenue_at_risk)}{tls}{load} · exit {self.exit_code}")
        return (f"{gate}: {decision}{state} · {self.reason} · revenue at risk "
                f"{money(self.revenue_at_risk)} · report {self.report_url or self.report}{tls}"
                f"{load} · exit {self.exit_code}")


def exit_code(decision: Decision | None, interrupted: bool, written: bool,
              settings: Settings) -> ExitCode:
    """The exit status for a verdict: 0 GO, 1 NO-GO, 3 AT RISK (0 with at_risk_exit=0),
    2 when there is no verdict or no report, 130 when interrupted."""
    if interrupted:
        return ExitCode.INTERRUPTED
    if decision in (None, Decision.NOT_JUDGED) or not written:
        return ExitCode.NOT_JUDGED
    if decision == Decision.AT_RISK:
        return ExitCode.AT_RISK if settings.at_risk_exit else ExitCode.GO
    return ExitCode.GO if decision == Decision.GO else ExitCode.NO_GO


def run_target_key(run: RunState) -> str:
    return target_key(run.target.name, redact_url(run.target.backend_url), run.target.standin_faults,
                      run.target.standin_variant)


def open_history(run: RunState, recorder: RunRecorder, tag_expression: str) -> History | None:
    """The run history, with this run recorded as running; None (and one line) if unusable."""
    try:
        history = History(run.settings.history)
        history.start(recorder.run_id, run_target_key(run), iso(recorder.started_wall),
                      tag_expression)
    except HistoryError as exc:
        say(f"stagecheck: no run history this time: {exc}")
        return None
    return history


def abandon(history: History, run_id: str) -> None:
    """Record a run without a result as interrupted (never left running), then close."""
    try:
        history.abandon(run_id)
    except HistoryError as exc:
        say(f"stagecheck: this run is left running in the history: {exc}")
    history.close()


def result_of(context: Any, run: RunState, recorder: RunRecorder) -> RunResult:
    """The run's result: its scenarios, then the probes of the target, then the model."""
    built = build_scenarios(context, run, recorder)
    health, schema = probe_target(run, built.results, bool(getattr(context, "aborted", False)))
    return build_result(context, run, recorder, built, health, schema)


@contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a run's end builds, compares, renders and
    writes its result (then back as it was). That end makes a few hundred thousand objects
    that live until it is over, beside behave's model of every scenario: the collector would
    scan them all again and again (a third of the end of a 10,000-scenario run) to find almost
    no cycles. Memory freed by reference counting is freed as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def conclude(context: Any, run: RunState, recorder: RunRecorder, history: History | None,
             assemble: Callable[[RunResult], RunResult] | None = None) -> GateOutcome:
    """Build the result (with what `assemble` adds: a run in workers) and publish it; one clear
    line for anything that cannot be done."""
    with collection_paused():
        return _conclude(context, run, recorder, history, assemble)


def _conclude(context: Any, run: RunState, recorder: RunRecorder, history: History | None,
              assemble: Callable[[RunResult], RunResult] | None) -> GateOutcome:
    interrupted = bool(getattr(context, "aborted", False))
    try:
        result = result_of(context, run, recorder)
        if assemble is not None:
            result = assemble(result)
    except Exception as exc:  # noqa: BLE001 - the run's outcome must not hide why the report is missing
        problem = f"the report could not be built: {type(exc).__name__}: {exc}"
        say(f"stagecheck: {problem}")
        if history is not None:
            abandon(history, recorder.run_id)
        code = exit_code(None, interrupted, False, run.settings)
        record_not_judged(run.settings.report_dir, recorder.run_id, problem, code, interrupted)
        return GateOutcome(None, "", 0.0, None, problem, interrupted, code)
    if result.shard is not None and history is not None:
        history.close()  # a shard is part of a run: the merge records the whole run
        history = None
    return publish(result, run.settings, history, run_target_key(run))


def publish_assembled(result: RunResult, settings: Settings, who: str = "stagecheck"
                      ) -> GateOutcome:
    """Publish a run assembled from pieces (merged shards or parts, a run in workers): its
    history opened here, its target named from its facts."""
    with collection_paused():
        return _publish_assembled(result, settings, who)


def _publish_assembled(result: RunResult, settings: Settings, who: str) -> GateOutcome:
    try:
        history: History | None = History(settings.history)
    except HistoryError as exc:
        say(f"{who}: no run history this time: {exc}")
        history = None
    facts = result.facts
    return publish(result, settings, history, target_key(
        facts.target, facts.backend_url, tuple(facts.standin_faults), facts.standin_variant))


def publish(result: RunResult, settings: Settings, history: History | None,
            key: str) -> GateOutcome:
    """What changed, the reports (with verdict.json), the history, retention and the job
    summary, for a run's result (or a merge of shards)."""
    if history is not None:
        try:
            result.changes = compute_changes(result, history, key)
        except HistoryError as exc:
            say(f"stagecheck: what changed is unknown this time: {exc}")
    decision, problem = result.verdict.decision, ""
    code = exit_code(decision, result.facts.interrupted, True, settings)
    url = report_link(settings.report_base_url, result.facts.run_id)
    try:
        folder: Path | None = write_reports(result, settings.report_dir, {
            VERDICT_FILE: verdict_json(result, settings.report_dir, code, url)},
            settings.catalog_url)
    except Exception as exc:  # noqa: BLE001 - said in one line, never silent
        problem = f"the report could not be written: {type(exc).__name__}: {exc}"
        say(f"stagecheck: {problem}")
        folder = None
        code = exit_code(decision, result.facts.interrupted, False, settings)
        record_not_judged(settings.report_dir, result.facts.run_id, problem, code,
                          result.facts.interrupted, result)
    if history is not None and folder is None:  # not judged: never a finished verdict there
        abandon(history, result.facts.run_id)
    elif history is not None:
        try:
            history.finish(result, key)
            history.prune(settings.keep_runs)
        except HistoryError as exc:
            say(f"stagecheck: this run could not be added to the history: {exc}")
        history.close()
    part = result.shard is not None and result.shard.count == PART  # a behavex worker's part
    if folder is not None and not part:  # the merge needs every part left in the folder
        prune_runs(settings.report_dir, settings.keep_runs)
    if result.shard is None:  # a shard's verdict is partial: the merge reports the run
        publish_outputs(result, Published(
            settings, key, folder is not None, url,
            (url or str(folder / "report.html")) if folder else ""))
    shard = ("a part of " if part else f"shard {result.shard.index}/{result.shard.count} of ") \
        if result.shard else ""
    return GateOutcome(decision, result.verdict.reason, result.impact.revenue_at_risk,
                       folder / "report.md" if folder else None, problem,
                       result.facts.interrupted, code, shard, url if folder else "",
                       result.facts.insecure_tls, result.facts.load_scale)

