"""What changed since the last runs on the same target: newly failing, fixed, still failing,
flaky, markedly slower, and the trend of the last runs."""

from __future__ import annotations

import itertools
import statistics

from ..report.model import Changes, Flaky, RunResult, Slower, StillFailing, TrendPoint
from ..vocabulary import RAN, Status
from .store import History, PastOutcome, PastRun, scenario_key

FLAKY_WINDOW = 10      # runs on the same target and version looked at for flips
TREND_RUNS = 30
SLOWER_FACTOR = 2.0    # markedly: at least twice the usual (median) duration ...
SLOWER_MIN_S = 0.2     # ... and at least this much more


def _trend_point(run: PastRun) -> TrendPoint:
    rate = (run.passed or 0) / run.scenarios if run.scenarios else 0.0
    return TrendPoint(run.run_id, run.started_at, round(rate, 4), run.revenue_at_risk or 0.0,
                      run.verdict or "")


def compute_changes(result: RunResult, history: History, key: str) -> Changes:
    facts = result.facts
    past = [r for r in history.past_runs(key, facts.started_at, TREND_RUNS)
            if r.run_id != facts.run_id]
    outcomes = history.outcomes([r.run_id for r in past])
    previous = past[0] if past else None
    changes = Changes(previous_run_id=previous.run_id if previous else "",
                      previous_verdict=previous.verdict or "" if previous else "")
    for scenario in result.scenarios:
        ran_before = [outcomes.get(scenario_key(scenario.feature, scenario.name), {}).get(r.run_id)
                      for r in past]
        earlier = [o for o in ran_before if o is not None and o.status in RAN]
        _classify(changes, scenario.name, scenario.status, scenario.duration_s, earlier,
                  facts.target_version, past)
    _slower_measures(changes, result, history.measures([r.run_id for r in past]), outcomes, past)
    current = TrendPoint(facts.run_id, facts.started_at,
                         round(sum(s.status == Status.PASSED for s in result.scenarios)
                               / len(result.scenarios), 4) if result.scenarios else 0.0,
                         result.impact.revenue_at_risk, result.verdict.decision)
    changes.trend = [_trend_point(r) for r in reversed(past[:TREND_RUNS - 1])] + [current]
    return changes


def _slower_measures(changes: Changes, result: RunResult,
                     measures: dict[tuple[str, str], dict[str, float]],
                     outcomes: dict[str, dict[str, PastOutcome]], past: list[PastRun]) -> None:
    """A measure (a load run's p95) markedly above its usual value in the earlier runs where the
    scenario passed, judged as durations are."""
    for scenario in result.scenarios:
        if scenario.status != Status.PASSED:
            continue
        key = scenario_key(scenario.feature, scenario.name)
        passed = outcomes.get(key, {})
        for name, value in scenario.measures.items():
            found = measures.get((key, name), {})
            usual = [found[r.run_id] for r in past if r.run_id in found
                     and passed.get(r.run_id) is not None
                     and passed[r.run_id].status == Status.PASSED][:FLAKY_WINDOW]
            if not usual:
                continue
            typical = statistics.median(usual)
            if value >= SLOWER_FACTOR * typical and value - typical >= SLOWER_MIN_S:
                changes.slower.append(Slower(f"{scenario.name} ({name})", round(value, 3),
                                             round(typical, 3)))


def _classify(changes: Changes, name: str, status: str, duration_s: float,
              earlier: list[PastOutcome], version: str, past: list[PastRun]) -> None:
    """`earlier`: this scenario's outcomes in runs where it ran, newest first."""
    if status not in RAN:
        return
    failing = status != Status.PASSED
    last = earlier[0] if earlier else None
    if last is not None:
        was_failing = last.status != Status.PASSED
        if failing and not was_failing:
            changes.newly_failing.append(name)
        elif not failing and was_failing:
            changes.fixed.append(name)
        elif failing:
            streak = 1
            for outcome in earlier:
                if outcome.status == Status.PASSED:
                    break
                streak += 1
            since = earlier[streak - 2]
            started = next((r.started_at for r in past if r.run_id == since.run_id), "")
            changes.still_failing.append(StillFailing(name, since.run_id, started, streak))
    same_version = [o.status for o in earlier if o.target_version == version][:FLAKY_WINDOW - 1]
    sequence = [status, *same_version]
    flips = sum((a == Status.PASSED) != (b == Status.PASSED) for a, b in itertools.pairwise(sequence))
    if flips >= 2:
        changes.flaky.append(Flaky(name, flips, len(sequence)))
    usual = [o.duration_s for o in earlier if o.status == Status.PASSED][:FLAKY_WINDOW]
    if status == Status.PASSED and usual:
        typical = statistics.median(usual)
        if duration_s >= SLOWER_FACTOR * typical and duration_s - typical >= SLOWER_MIN_S:
            changes.slower.append(Slower(name, round(duration_s, 3), round(typical, 3)))
