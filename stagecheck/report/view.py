"""Figures the templates show, computed here (and tested here) so that templates hold layout only."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..vocabulary import FAILED, UNVERIFIED, Channel, Status
from ..wording import duration, plural
from .evidence import failing_exchange
from .impact import tier_name
from .model import Capability, RunResult, ScenarioResult, TierImpact, TrendPoint

STATUS_MARK = {Status.PASSED: "PASS", Status.DEGRADED: "DEGRADED", Status.FAILED: "FAIL",
               Status.ERROR: "ERROR", Status.NOT_JUDGED: "NOT JUDGED",
               Status.UNTESTED: "NOT REACHED", Status.SKIPPED: "SKIPPED",
               Status.UNDEFINED: "UNDEFINED", Status.PENDING: "PENDING",
               Status.LEFT_OUT: "LEFT OUT"}
# How a scenario that did not run (or could not be judged) is counted, apart from the failures.
NOT_RUN_WORDS = {Status.NOT_JUDGED: "not judged", Status.UNTESTED: "not reached",
                 Status.SKIPPED: "skipped", Status.UNDEFINED: "undefined",
                 Status.PENDING: "pending", Status.LEFT_OUT: "left out by policy"}
PASS_RATE_RULE = ("The pass rate is the share of the selected scenarios that passed; a scenario not "
                  "reached or skipped counts as not passed, and is shown apart from the failures.")


def money(amount: float) -> str:
    """$120K, $1.5M, $800, $0."""
    if amount >= 1e6:
        return f"${amount / 1e6:.3g}M"
    if amount >= 1e3:
        return f"${amount / 1e3:.3g}K"
    return f"${amount:.0f}"


def seconds(value: float) -> str:
    """A duration as people read it: `under 1 ms`, `42 ms`, `1.25 s`."""
    return duration(value)


def _zone(moment: datetime) -> str:
    offset = moment.strftime("%z")
    return "" if not offset else "UTC" if offset == "+0000" else f"UTC{offset[:3]}:{offset[3:]}"


def when(stamp: str) -> str:
    """An ISO timestamp as people read it, with its zone: `5 Dec 2026, 23:04 UTC` (the text
    given back as it is when it is not a timestamp)."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return f"{moment.day} {moment:%b %Y, %H:%M} {_zone(moment)}".rstrip()


def run_span(started: str, finished: str) -> str:
    """When a run ran: `5 Dec 2026, 23:04 → 23:06 UTC` (the date once when it is one day)."""
    try:
        first, last = datetime.fromisoformat(started), datetime.fromisoformat(finished)
    except ValueError:
        return f"{when(started)} → {when(finished)}"
    if first.date() != last.date() or _zone(first) != _zone(last):
        return f"{when(started)} → {when(finished)}"
    return f"{first.day} {first:%b %Y, %H:%M} → {last:%H:%M} {_zone(last)}".rstrip()


def fail_fast(result: RunResult) -> str:
    """What `--stop` did in this run, in words: off, stopped at the first failure (naming it),
    or on with nothing to stop at."""
    if not result.facts.stop_on_failure:
        return "off"
    not_reached = [s for s in result.scenarios if s.status == Status.UNTESTED]
    first = next((s for s in result.scenarios if s.failed or s.status == Status.NOT_JUDGED), None)
    if result.facts.interrupted:
        return "on: the run was interrupted before it finished"
    if not not_reached:
        return ("on: the first failure came last, so every selected scenario ran" if first
                else "on: nothing failed, so every selected scenario ran")
    at = f" (\u201c{first.name}\u201d)" if first else ""
    return (f"on: the run stopped at the first failure{at}, so "
            f"{plural(len(not_reached), 'later scenario')} {'was' if len(not_reached) == 1 else 'were'}"
            " not reached")


def scenario_duration(scenario: ScenarioResult) -> str:
    """Blank for a scenario that did not run: it took no time, it was not fast."""
    return duration(scenario.duration_s) if scenario.status.ran else ""


def load_scale_words(scale: float | None) -> str:
    """What a scaled load run changed, in words ("" at full scale, or when the load tier did not
    run): the scenarios' names still say the Examples' full numbers."""
    if scale is None or scale == 1:
        return ""
    return (f"load tier ran at {scale:g} of its users and durations (-D load_scale={scale:g}), not "
            "the numbers its scenarios name")


def pass_rate(passed: int, selected: int) -> str:
    """The one pass rate of the report (PASS_RATE_RULE): passed out of selected."""
    return f"{100 * passed / selected:.0f}%" if selected else "n/a"


def tally(scenarios: Sequence[ScenarioResult]) -> str:
    """`6 of 8 passed · 1 failed · 2 not reached`: what did not run, apart from what failed."""
    counts = Counter(s.status for s in scenarios)
    parts = [f"{counts[Status.PASSED]} of {len(scenarios)} passed"]
    failed = sum(counts[status] for status in FAILED)  # ScenarioResult.failed
    if failed:
        parts.append(f"{failed} failed")
    parts += [f"{counts[status]} {words}" for status, words in NOT_RUN_WORDS.items() if counts[status]]
    return " · ".join(parts)


def curl(exchange: dict[str, Any]) -> str:
    """A curl line that repeats a request (credentials left out, as they were redacted)."""
    if exchange["channel"] != Channel.HTTP:
        return ""
    method = [] if exchange["action"] == "GET" else ["-X", exchange["action"]]
    body = ["-H", "Content-Type: application/json", "--data", exchange["request"]] \
        if exchange["request"] else []
    return shlex.join(["curl", "-sS", "-i", *method, *body, exchange["url"]])


@dataclass(frozen=True)
class Bar:
    """One row of a chart: shares of passed, failed and not run, and the revenue at risk."""

    label: str
    passed_pct: float
    failed_pct: float
    not_run_pct: float
    risk_pct: float                  # against the largest pool
    summary: str                     # "43% · 6 of 14 passed · 1 failed · 7 not reached"
    at_risk: str


def bars(rows: list[TierImpact], scenarios: Sequence[ScenarioResult],
         key: Callable[[ScenarioResult], str]) -> list[Bar]:
    """The chart rows of an impact table; `key` names the row a scenario belongs to."""
    biggest = max((row.revenue for row in rows), default=0.0) or 1.0
    groups: dict[str, list[ScenarioResult]] = {}
    for scenario in scenarios:
        groups.setdefault(key(scenario), []).append(scenario)
    found = []
    for row in rows:
        members = groups.get(row.name, [])
        total = len(members) or 1
        ran = any(s.status.ran for s in members)
        found.append(Bar(
            row.name, round(100 * row.passed / total, 1), round(100 * row.failed / total, 1),
            round(100 * row.unverified / total, 1), round(100 * row.at_risk / biggest, 1),
            (f"{pass_rate(row.passed, row.scenarios)} · " if ran else "") + tally(members),
            money(row.at_risk)))
    return found


@dataclass(frozen=True)
class CapabilityRow:
    """A capability's rollup (`Live sessions 6/6`) and what it means for the people on it."""

    name: str
    area: str
    state: Status                    # PASSED, FAILED, or UNTESTED when something did not run
    rollup: str                      # "6/6"
    tally: str
    words: str                       # "Users cannot find or run any AI agent."


def _capability_row(capability: Capability, members: Sequence[ScenarioResult]) -> CapabilityRow:
    passed = sum(s.status == Status.PASSED for s in members)
    who = capability.who[:1].upper() + capability.who[1:]
    if any(s.failed for s in members):
        state = Status.FAILED
        words = (f"{who} cannot {capability.cannot}." if capability.cannot
                 else capability.description)
    elif passed == len(members):
        state, words = Status.PASSED, f"{who} can {capability.can}." if capability.can else ""
    else:
        state = (Status.NOT_JUDGED if any(s.status == Status.NOT_JUDGED for s in members)
                 else Status.UNTESTED)
        words = f"Not verified whether {capability.who} can {capability.can}." if capability.can else ""
    return CapabilityRow(capability.name, capability.area, state, f"{passed}/{len(members)}",
                         tally(members), words)


def capability_rows(result: RunResult) -> list[CapabilityRow]:
    """Per capability, in run order; results saved without capabilities fall back to features."""
    known = {c.name: c for c in result.capabilities}
    rows: dict[str, list[ScenarioResult]] = {}
    for s in result.scenarios:
        rows.setdefault(s.feature, []).append(s)
    return [_capability_row(known.get(name) or Capability(name, members[0].area, ""), members)
            for name, members in rows.items()]


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def plain_impact(result: RunResult, rows: list[CapabilityRow] | None = None) -> list[str]:
    """Per group of people hit by a failure: what they can still do, and what they cannot
    (`rows`: the run's capability rows, when already known)."""
    known = {c.name: c for c in result.capabilities}
    states = {row.name: row.state for row in (capability_rows(result) if rows is None else rows)}
    lines = []
    for who in dict.fromkeys(c.who for c in result.capabilities):
        mine = [c for c in known.values() if c.who == who]
        cannot = [c.cannot for c in mine if states.get(c.name) == Status.FAILED and c.cannot]
        if not cannot:
            continue
        can = [c.can for c in mine if states.get(c.name) == Status.PASSED and c.can]
        lines.append(f"{who[:1].upper()}{who[1:]} "
                     + (f"can {_joined(can)}, but " if can else "") + f"cannot {_joined(cannot)}.")
    return lines


@dataclass(frozen=True)
class Evidence:
    scenario: ScenarioResult
    failing_step: str
    message: str
    exchange: dict[str, Any] | None
    curl: str


def evidence(scenario: ScenarioResult) -> Evidence:
    step = next((s for s in scenario.steps if s.status.failed), None)
    exchange = failing_exchange(scenario)
    return Evidence(scenario, f"{step.keyword} {step.name}" if step else "",
                    (step.error_message if step else scenario.error_message).strip(),
                    exchange, curl(exchange) if exchange else "")


@dataclass(frozen=True)
class TrendChart:
    """The last runs as an inline SVG without text (labels are HTML, so they keep the body's
    size at any width): a pass-rate line and revenue-at-risk bars."""

    width: int
    height: int
    line: str                         # polyline points
    bars: list[tuple[float, float, float, str]]  # x, y, height, tooltip
    first: str
    last: str
    peak_risk: str


def trend_chart(points: list[TrendPoint], width: int = 640, height: int = 160) -> TrendChart | None:
    if len(points) < 2:
        return None
    top, bottom, left, right = 4, height - 4, 6, width - 6
    step = (right - left) / (len(points) - 1)
    peak = max(p.at_risk for p in points) or 1.0
    line = " ".join(f"{left + i * step:.1f},{bottom - p.pass_rate * (bottom - top):.1f}"
                    for i, p in enumerate(points))
    bar_height = (bottom - top) * 0.5
    bars = [(left + i * step - 3, bottom - bar_height * p.at_risk / peak,
             bar_height * p.at_risk / peak,
             f"{when(p.started_at)} ({p.run_id}): {p.verdict}, pass rate "
             f"{100 * p.pass_rate:.0f}%, {money(p.at_risk)} at risk")
            for i, p in enumerate(points)]
    return TrendChart(width, height, line, bars, when(points[0].started_at),
                      when(points[-1].started_at), money(max(p.at_risk for p in points)))


@dataclass(frozen=True)
class OwnerWork:
    """What one owning team has to act on: its broken and degraded scenarios, and the revenue
    of the tiers they put at risk."""

    owner: str
    scenarios: list[ScenarioResult]
    at_risk: str


def by_owner(scenarios: list[ScenarioResult], result: RunResult) -> list[OwnerWork]:
    """The scenarios to act on, grouped by owner (unowned last), most revenue at risk first."""
    pools = {t.name: t.revenue for t in result.impact.by_priority}
    groups: dict[str, list[ScenarioResult]] = {}
    for scenario in scenarios:
        groups.setdefault(scenario.owner or "no owner", []).append(scenario)

    def revenue(found: list[ScenarioResult]) -> float:
        return sum(pools.get(f"P{p}" if p else "unprioritised", 0.0)
                   for p in {s.priority for s in found})

    ordered = sorted(groups.items(), key=lambda item: (item[0] == "no owner", -revenue(item[1]),
                                                       item[0]))
    return [OwnerWork(owner, found, money(revenue(found))) for owner, found in ordered]


def report_view(result: RunResult) -> dict[str, Any]:
    scenarios = result.scenarios
    left_out = [s for s in scenarios if s.status == Status.LEFT_OUT]
    unverified = [s for s in scenarios if s.status in UNVERIFIED]
    passed = [s for s in scenarios if s.status == Status.PASSED]
    not_run = Counter(s.status for s in scenarios  # in the order they first appear
                      if s.status in UNVERIFIED or s.status == Status.LEFT_OUT)
    failed = [s for s in scenarios if s.status in FAILED]
    degraded = [s for s in scenarios if s.status == Status.DEGRADED]
    steps = [(s, st) for s in scenarios for st in s.steps]
    undefined_steps = [(s, st) for s, st in steps if st.status in ("undefined", "pending")]
    critical = failed[0] if failed else None
    capabilities = capability_rows(result)
    return {
        "r": result,
        "facts": result.facts,
        "verdict": result.verdict,
        "impact": result.impact,
        "diagnosis": result.diagnosis,
        "scenarios": scenarios,
        "counts": {"total": len(scenarios), "ran": len(scenarios) - len(unverified) - len(left_out),
                   "passed": len(passed),
                   "failed": len(failed), "unverified": len(unverified),
                   "degraded": len(degraded)},
        "not_run": [f"{count} {NOT_RUN_WORDS[status]}" for status, count in not_run.items()],
        "pass_rate": pass_rate(len(passed), len(scenarios)),
        "load_scale": load_scale_words(result.facts.load_scale),
        "pass_rate_rule": PASS_RATE_RULE,
        "capabilities": capabilities,
        "plain_impact": plain_impact(result, capabilities),
        "at_risk": money(result.impact.revenue_at_risk),
        "unverified_revenue": money(result.impact.revenue_unverified),
        "critical": critical,
        "works": passed,
        "broken": failed,
        "degraded": degraded,
        "owners": by_owner(failed + degraded, result),
        "unverified": unverified,
        "left_out": left_out,
        "evidence": [evidence(s) for s in failed],
        "priority_bars": bars(result.impact.by_priority, scenarios, lambda s: tier_name(s.priority)),
        "area_bars": bars(result.impact.by_area, scenarios, lambda s: s.area or "unassigned"),
        "hollow": [s for s in passed if not s.exchanges],  # ScenarioResult.exchanged_nothing
        "hollow_steps": [(s, st) for s, st in steps if st.checks == 0 and st.checked_nothing],
        "undefined_steps": undefined_steps,
        "health_curl": shlex.join(["curl", "-sS", "-i", result.diagnosis.health.url])
        if result.diagnosis.health else "",
        "changes": result.changes,
        "trend": trend_chart(result.changes.trend) if result.changes else None,
        "ran_when": run_span(result.facts.started_at, result.facts.finished_at),
        "fail_fast": fail_fast(result),
        "mark": STATUS_MARK,
        "money": money,
        "seconds": seconds,
        "scenario_duration": scenario_duration,
        "zip": zip,
        "plural": plural,
    }
