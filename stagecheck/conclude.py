"""The end of a run: the result model, what changed since the last runs, the reports, the
history, and the verdict line on the console."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import HistoryError
from .history.changes import compute_changes
from .history.store import History, target_key
from .report.build import build_result, iso
from .report.view import money
from .report.write import write_reports
from .run.exchanges import redact_url
from .run.record import RunRecorder
from .run.world import RunState


def run_target_key(run: RunState) -> str:
    return target_key(run.target.name, redact_url(run.target.backend_url), run.target.standin_faults,
                      run.target.standin_variant)


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


def conclude(context: Any, run: RunState, recorder: RunRecorder,
             history: History | None) -> Path | None:
    """Write the reports and the history, and say the verdict on the real console; one clear
    line when something cannot be written."""
    console = sys.__stdout__ or sys.stdout
    try:
        result = build_result(context, run, recorder)
    except Exception as exc:  # noqa: BLE001 - the run's outcome must not hide why the report is missing
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
