"""What changed since the last runs on the same target: newly failing, fixed, still failing,
flaky, markedly slower, newly verified and no longer verified, one version reported for
different builds, and the trend of the last runs. The comparison of each scenario with
its past outcomes runs in SQL (`History.histories`), so its cost stays flat in Python."""

from __future__ import annotations

import statistics

from ..report.model import (
    Changes,
    Flaky,
    RunResult,
    SameVersion,
    Slower,
    StillFailing,
    TrendPoint,
    Verification,
    scenario_key,
)
from ..vocabulary import RAN, Status
from .fold import PastRun, ScenarioHistory
from .store import History

FLAKY_WINDOW = 10      # runs on the same target and version looked at for flips
TREND_RUNS = 30
SLOWER_FACTOR = 2.0    # markedly: at least twice the usual (median) duration ...
SLOWER_MIN_S = 0.2     # ... and at least this much more


def _trend_point(run: PastRun) -> TrendPoint:
    rate = (run.passed or 0) / run.scenarios if run.scenarios else 0.0
    return TrendPoint(run.run_id, run.started_at, round(rate, 4), run.revenue_at_risk or 0.0,
                      run.verdict or "")


def compute_changes(result: RunResult, history: History, key: str) -> Changes:
    """Against the runs on this target that completed before this one started (never one
    still running, nor one killed mid-way)."""
    facts = result.facts
    past = history.past_runs(key, facts.started_at, TREND_RUNS, exclude=facts.run_id)
    previous = past[0] if past else None
    changes = Changes(previous_run_id=previous.run_id if previous else "",
                      previous_verdict=previous.verdict or "" if previous else "")
    found = history.histories(
        past, [(scenario_key(s.feature, s.name), s.status, s.duration_s) for s in result.scenarios],
        facts.target_version, FLAKY_WINDOW, SLOWER_FACTOR, SLOWER_MIN_S)
    for position, scenario_history in found.items():
        scenario = result.scenarios[position]
        _classify(changes, scenario.name, scenario.status, scenario.duration_s, scenario_history)
    _slower_measures(changes, result, history, past)
    if previous is not None:
        _verification(changes, result, history.statuses(previous.run_id))
    changes.same_version = _same_version(result, past)
    current = TrendPoint(facts.run_id, facts.started_at,
                         round(sum(s.status == Status.PASSED for s in result.scenarios)
                               / len(result.scenarios), 4) if result.scenarios else 0.0,
                         result.impact.revenue_at_risk, result.verdict.decision)
    changes.trend = [_trend_point(r) for r in reversed(past[:TREND_RUNS - 1])] + [current]
    return changes


def _verification(changes: Changes, result: RunResult, before: dict[str, str]) -> None:
    """Scenarios judged now that the previous run (`before`: scenario key -> status) recorded
    without judging them (not judged, not reached, left out...), and the other way round. A
    scenario the previous run did not select is neither: another selection is not a change in
    what is proven."""
    for scenario in result.scenarios:
        then = before.get(scenario_key(scenario.feature, scenario.name))
        if then is None:
            continue
        judged_now, judged_then = scenario.status in RAN, then in RAN
        if judged_now and not judged_then:
            changes.newly_verified.append(Verification(scenario.name, str(scenario.status)))
        elif judged_then and not judged_now:
            changes.no_longer_verified.append(Verification(scenario.name, str(scenario.status)))


def _same_version(result: RunResult, past: list[PastRun]) -> SameVersion | None:
    """The backend reported this run's version for two or more builds known to differ (each run
    told which build it releases), none of them that version: the backend names a constant, not
    its build. Looks back until the reported version changes."""
    facts = result.facts
    reported, build = facts.target_version, facts.expected_version
    if not reported or not build or build == reported:
        return None
    builds, since = [build], facts.run_id
    for run in past:
        if run.target_version != reported:
            break
        if run.expected_version:
            since = run.run_id
            if run.expected_version not in builds:
                builds.append(run.expected_version)
    if len(builds) < 2 or reported in builds:
        return None
    return SameVersion(reported, builds[::-1], since)


def _slower_measures(changes: Changes, result: RunResult, history: History,
                     past: list[PastRun]) -> None:
    """A measure (a load run's p95) of a passed scenario markedly above its usual value in the
    earlier runs where the scenario passed, judged as durations are."""
    measured = {(scenario_key(s.feature, s.name), name): (s.name, value)
                for s in result.scenarios if s.status == Status.PASSED
                for name, value in s.measures.items()}
    usual = history.usual_measures(past, list(measured), FLAKY_WINDOW)
    for measure, (scenario, value) in measured.items():
        if measure not in usual:
            continue
        typical = statistics.median(usual[measure])
        if value >= SLOWER_FACTOR * typical and value - typical >= SLOWER_MIN_S:
            changes.slower.append(Slower(f"{scenario} ({measure[1]})", round(value, 3),
                                         round(typical, 3)))


def _classify(changes: Changes, name: str, status: str, duration_s: float,
              past: ScenarioHistory) -> None:
    """One scenario that ran, against its past outcomes where it ran."""
    failing = status != Status.PASSED
    if past.last_status is not None:
        was_failing = past.last_status != Status.PASSED
        if failing and not was_failing:
            changes.newly_failing.append(name)
        elif not failing and was_failing:
            changes.fixed.append(name)
        elif failing:
            changes.still_failing.append(StillFailing(name, past.since_run_id or "",
                                                      past.since_started_at or "",
                                                      past.failing_streak + 1))
    flips = past.same_version_flips
    if past.newest_same_version_passed is not None:
        flips += past.newest_same_version_passed == failing
    if flips >= 2:
        changes.flaky.append(Flaky(name, flips, past.same_version_runs + 1))
    if status == Status.PASSED and past.usual_durations:
        typical = statistics.median(past.usual_durations)
        if duration_s >= SLOWER_FACTOR * typical and duration_s - typical >= SLOWER_MIN_S:
            changes.slower.append(Slower(name, round(duration_s, 3), round(typical, 3)))
