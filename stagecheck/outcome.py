"""The end of a run: build the result model, probe for the root cause, write the reports."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from . import contract
from .changes import compute_changes
from .collect import RunRecorder, iso, scenario_result, selected_scenarios, versions
from .diagnosis import diagnose
from .exchanges import Redactor
from .history import History, HistoryError, target_key
from .impact import decide, roll_up
from .probes import health_version, probe_health, probe_schema
from .publish import write_reports
from .results import SCHEMA_VERSION, RunFacts, RunResult
from .view import money
from .world import RunState


def rerun_command(tag_expression: str, run: RunState) -> str:
    target = "" if run.target.name == "local" else f" -D target={run.target.name}"
    tags = f" --tags={tag_expression}" if tag_expression else ""
    return f"behave{tags}{target}"


def build_result(context: Any, run: RunState, recorder: RunRecorder) -> RunResult:
    config = context.config
    redact = Redactor(run.settings.secrets + run.target.secrets)
    tag_expression = tag_expression_of(config)
    scenarios = [scenario_result(feature, scenario, recorder.records.get(id(scenario)), redact)
                 for feature, scenario in selected_scenarios(
                     context._runner.features, config, recorder.records)]
    interrupted = bool(getattr(context, "aborted", False))
    health = probe_health(run.target.backend_url,  # after Ctrl-C, the user is waiting
                          min(run.settings.health_timeout, 2.0) if interrupted
                          else run.settings.health_timeout, redact,
                          verify=not run.settings.insecure_tls)
    schema = None
    if run.target.database_url and any(s.failed for s in scenarios):
        schema = probe_schema(run.target.database_url, contract.EXPECTED_TABLES,
                              run.target.migration_revisions)
    diagnosis = diagnose(scenarios, health, schema, {
        "rerun": rerun_command(tag_expression, run), "backend": run.target.backend_url,
        "database": "the platform's database"})
    finished = time.time()
    facts = RunFacts(
        run_id=recorder.run_id, started_at=iso(recorder.started_wall), finished_at=iso(finished),
        duration_s=round(time.perf_counter() - recorder.started, 3), target=run.target.name,
        backend_url=run.target.backend_url, auth_url=run.target.auth_url,
        ws_url=run.target.ws_url, target_version=health_version(health),
        tag_expression=tag_expression, stop_on_failure=bool(config.stop),
        interrupted=interrupted, insecure_tls=run.settings.insecure_tls,
        standin_faults=list(run.target.standin_faults), versions=versions())
    return RunResult(SCHEMA_VERSION, facts, scenarios, roll_up(scenarios), decide(scenarios),
                     diagnosis)


def run_target_key(run: RunState) -> str:
    return target_key(run.target.name, run.target.backend_url, run.target.standin_faults)


def say(line: str) -> None:
    """One line on the real console, whatever behave captures."""
    print(line, file=sys.__stderr__ or sys.stderr, flush=True)


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


def tag_expression_of(config: Any) -> str:
    return " and ".join(f"({t})" if " " in t else t for t in (config.tags or []))


def publish(context: Any, run: RunState, recorder: RunRecorder,
            history: History | None) -> Path | None:
    """Write the reports and the history, and say the verdict on the real console; one clear
    line when something cannot be written."""
    console = sys.__stdout__ or sys.stdout
    try:
        result = build_result(context, run, recorder)
    except Exception as exc:  # the run's own outcome must not hide why the report is missing
        say(f"stagecheck: the report could not be built: {type(exc).__name__}: {exc}")
        return None
    key = run_target_key(run)
    if history is not None:
        try:
            result.changes = compute_changes(result, history, key)
        except HistoryError as exc:
            say(f"stagecheck: what changed is unknown this time: {exc}")
    try:
        folder = write_reports(result, run.settings.report_dir)
    except Exception as exc:  # noqa: BLE001 - said in one line, never silent
        say(f"stagecheck: the report could not be written: {type(exc).__name__}: {exc}")
        folder = None
    if history is not None:
        try:
            history.finish(result, key)
        except HistoryError as exc:
            say(f"stagecheck: this run could not be added to the history: {exc}")
        history.close()
    if folder is None:
        return None
    print(f"\nRelease gate: {result.verdict.decision} · revenue at risk "
          f"{money(result.impact.revenue_at_risk)} · report {folder / 'report.md'}",
          file=console, flush=True)
    return folder
