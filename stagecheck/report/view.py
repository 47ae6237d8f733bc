"""Figures the templates show, computed here (and tested here) so that templates hold layout only."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from ..vocabulary import Channel, Status
from .evidence import failing_exchange
from .model import RunResult, ScenarioResult, TierImpact, TrendPoint

STATUS_MARK = {Status.PASSED: "PASS", Status.DEGRADED: "DEGRADED", Status.FAILED: "FAIL",
               Status.ERROR: "ERROR",
               Status.UNTESTED: "NOT RUN", Status.SKIPPED: "SKIPPED", Status.UNDEFINED: "UNDEFINED",
               Status.PENDING: "PENDING"}


def money(amount: float) -> str:
    """$120K, $1.5M, $800, $0."""
    if amount >= 1e6:
        return f"${amount / 1e6:.3g}M"
    if amount >= 1e3:
        return f"${amount / 1e3:.3g}K"
    return f"${amount:.0f}"


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


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
    label: str
    pass_pct: float
    risk_pct: float
    pass_rate: str
    at_risk: str


def bars(rows: list[TierImpact]) -> list[Bar]:
    biggest = max((row.revenue for row in rows), default=0.0) or 1.0
    return [Bar(row.name, round(100 * row.pass_rate, 1), round(100 * row.at_risk / biggest, 1),
                f"{100 * row.pass_rate:.0f}%", money(row.at_risk)) for row in rows]


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
    """The last runs as an inline SVG: a pass-rate line and revenue-at-risk bars."""

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
    top, bottom, left, right = 10, height - 20, 40, width - 10
    step = (right - left) / (len(points) - 1)
    peak = max(p.at_risk for p in points) or 1.0
    line = " ".join(f"{left + i * step:.1f},{bottom - p.pass_rate * (bottom - top):.1f}"
                    for i, p in enumerate(points))
    bar_height = (bottom - top) * 0.5
    bars = [(left + i * step - 3, bottom - bar_height * p.at_risk / peak,
             bar_height * p.at_risk / peak,
             f"{p.run_id}: {p.verdict}, {100 * p.pass_rate:.0f}% passed, {money(p.at_risk)} at risk")
            for i, p in enumerate(points)]
    return TrendChart(width, height, line, bars, points[0].started_at, points[-1].started_at,
                      money(max(p.at_risk for p in points)))


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
    ran = [s for s in scenarios if not s.unverified]
    passed = [s for s in scenarios if s.status == Status.PASSED]
    failed = [s for s in scenarios if s.failed]
    degraded = [s for s in scenarios if s.degraded]
    unverified = [s for s in scenarios if s.unverified]
    undefined_steps = [(s, st) for s in scenarios for st in s.steps
                       if st.status in ("undefined", "pending")]
    critical = failed[0] if failed else None
    return {
        "r": result,
        "facts": result.facts,
        "verdict": result.verdict,
        "impact": result.impact,
        "diagnosis": result.diagnosis,
        "scenarios": scenarios,
        "counts": {"total": len(scenarios), "ran": len(ran), "passed": len(passed),
                   "failed": len(failed), "unverified": len(unverified),
                   "degraded": len(degraded)},
        "pass_rate": f"{100 * len(passed) / len(ran):.0f}%" if ran else "n/a",
        "at_risk": money(result.impact.revenue_at_risk),
        "unverified_revenue": money(result.impact.revenue_unverified),
        "critical": critical,
        "works": passed,
        "broken": failed,
        "degraded": degraded,
        "owners": by_owner(failed + degraded, result),
        "unverified": unverified,
        "evidence": [evidence(s) for s in failed],
        "priority_bars": bars(result.impact.by_priority),
        "area_bars": bars(result.impact.by_area),
        "hollow": [s for s in scenarios if s.hollow],
        "hollow_steps": [(s, st) for s in scenarios for st in s.steps if st.hollow],
        "undefined_steps": undefined_steps,
        "health_curl": shlex.join(["curl", "-sS", "-i", result.diagnosis.health.url])
        if result.diagnosis.health else "",
        "changes": result.changes,
        "trend": trend_chart(result.changes.trend) if result.changes else None,
        "mark": STATUS_MARK,
        "money": money,
        "seconds": seconds,
    }
