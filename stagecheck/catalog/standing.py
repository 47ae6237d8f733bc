"""How each scenario has stood in the history: its last status, when it last passed, its recent
trend, flips (flaky) and median duration, read through the history store."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..history.fold import PastRun
from ..history.store import History, PastOutcome
from ..report.model import scenario_key
from ..vocabulary import Status

FLAKY_FLIPS = 2   # flips between passing and failing within the window that make a scenario flaky
END_OF_TIME = "9999-12-31T23:59:59+00:00"


@dataclass(frozen=True)
class Standing:
    """One scenario over the newest runs of the history (newest first)."""

    last_status: str = ""           # "" when it never ran in the window
    last_run_at: str = ""
    last_passed_at: str = ""
    in_last_run: bool = False       # whether the newest run ran it
    trend: list[str] = field(default_factory=list)  # its statuses, newest first
    flips: int = 0
    flaky: bool = False
    median_s: float | None = None
    runs_without_pass: int = 0      # newest runs in a row where it did not pass (ran or not)


@dataclass(frozen=True)
class HistoryView:
    path: str
    target: str
    runs: list[PastRun]             # the window, newest first
    standings: dict[str, Standing]  # scenario key -> standing


def read_history(path: Path, target: str = "", window: int = 10) -> HistoryView | None:
    """The newest `window` completed runs on `target` (by default the target run last); None
    when there is no history file or no completed run in it."""
    if not path.is_file():
        return None
    history = History(path)
    try:
        target = target or next(iter(history.targets()), "")
        runs = history.past_runs(target, END_OF_TIME, limit=window) if target else []
        outcomes = history.outcomes([run.run_id for run in runs])
    finally:
        history.close()
    if not runs:
        return None
    standings = {key: _standing(runs, by_run) for key, by_run in outcomes.items()}
    return HistoryView(str(path), target, runs, standings)


def standing_of(view: HistoryView | None, feature: str, name: str) -> Standing | None:
    if view is None:
        return None
    return view.standings.get(scenario_key(feature, name), Standing(runs_without_pass=len(view.runs)))


def _standing(runs: list[PastRun], by_run: dict[str, PastOutcome]) -> Standing:
    ran = [(run, by_run[run.run_id]) for run in runs if run.run_id in by_run]
    statuses = [outcome.status for _, outcome in ran]
    judged = [status == Status.PASSED for status in statuses
              if status in (Status.PASSED, Status.FAILED)]
    flips = sum(a != b for a, b in itertools.pairwise(judged))
    passed_at = [run.started_at for run, outcome in ran
                 if outcome.status == Status.PASSED]
    durations = [outcome.duration_s for _, outcome in ran
                 if outcome.status == Status.PASSED]
    without = next((n for n, run in enumerate(runs) if run.run_id in by_run
                    and by_run[run.run_id].status == Status.PASSED), len(runs))
    return Standing(
        last_status=statuses[0] if statuses else "", last_run_at=ran[0][0].started_at if ran else "",
        last_passed_at=passed_at[0] if passed_at else "", in_last_run=runs[0].run_id in by_run,
        trend=statuses, flips=flips, flaky=flips >= FLAKY_FLIPS,
        median_s=round(statistics.median(durations), 3) if durations else None,
        runs_without_pass=without)
