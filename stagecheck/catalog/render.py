"""The catalog as a self-contained HTML page, Markdown and JSON (Jinja2 templates in
templates/catalog/); what the templates show is worded here, so the templates hold layout only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..report.render import environment
from ..report.view import money
from ..vocabulary import ReportFormat
from ..wording import duration, plural
from .build import NEVER_RAN, NO_HISTORY, Catalog, Entry

MARKS = {"passed": "✓", "failed": "✗", "error": "✗", "degraded": "◐"}  # any other status: "·"


def when(stamp: str) -> str:
    """`5 Dec 2026, 23:07 UTC`: an ISO time as people read it, with its zone."""
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp)
    zone = moment.tzname() or ""
    return f"{moment.day} {moment:%b %Y, %H:%M} {'UTC' if zone in ('UTC', 'UTC+00:00') else zone}".strip()


def _standing(entry: Entry) -> dict[str, Any]:
    s = entry.standing
    if s is None:
        return {"status": NO_HISTORY, "words": "", "trend": "", "flaky": False}
    words = [f"last {s.last_status} {when(s.last_run_at)}" if s.last_status else
             "did not run in the recent runs"]
    if s.last_status != "passed":
        words.append(f"last passed {when(s.last_passed_at)}" if s.last_passed_at
                     else "not passed in the recent runs")
    if s.median_s is not None:
        words.append(f"median {duration(s.median_s)}")
    if s.flaky:
        words.append(f"flaky: {plural(s.flips, 'flip')}")
    return {"status": entry.status, "words": " · ".join(words), "flaky": s.flaky,
            "trend": "".join(MARKS.get(status, "·") for status in reversed(s.trend))}


def _entry(entry: Entry) -> dict[str, Any]:
    s = entry.scenario
    return {"anchor": s.anchor, "name": s.name, "feature": s.feature, "location": s.location,
            "tier": f"P{s.tier}" if s.tier else "no tier", "revenue": money(s.revenue or 0),
            "area": s.area or "no area", "owner": s.owner or "no owner",
            "destructive": s.destructive, "steps": s.steps, "outline": s.outline,
            "examples": s.examples, "standing": _standing(entry),
            "text": " ".join([s.name, s.feature, *(step.text for step in s.steps)]).lower()}


def _figures(catalog: Catalog) -> list[tuple[str, str]]:
    counts = catalog.counts
    mrr = money(sum(p.revenue for p in catalog.pools))
    return [(plural(counts["scenarios"], "scenario"), f"in {plural(counts['features'], 'feature')}"),
            (f"{counts['proven_then_steps']} / {counts['then_steps']}", "Then steps proven by a fault"),
            (plural(counts["pools"], "revenue pool"), f"{mrr} MRR"),
            (plural(len(catalog.review), "item"), "for review")]


def catalog_view(catalog: Catalog) -> dict[str, Any]:
    """What the templates show, worded."""
    entries = [_entry(e) for e in catalog.entries()]
    anchors = {e["name"]: e["anchor"] for e in entries}
    choices = {key: sorted({e[key] for e in entries}) for key in ("tier", "owner", "area")}
    choices["status"] = sorted({e["standing"]["status"] for e in entries})
    return {
        "catalog": catalog, "generated": when(catalog.generated_at), "choices": choices,
        "capabilities": [{"c": c, "revenue": money(c.revenue or 0),
                          "tier": f"P{c.tier}" if c.tier else "no tier",
                          "entries": [e for e in entries if e["feature"] == c.feature]}
                         for c in catalog.capabilities],
        "figures": _figures(catalog),
        "pools": [{"p": p, "revenue": money(p.revenue),
                   "not_verified": [(name, anchors[name]) for name in p.not_verified],
                   "passed": "no history" if p.passed_last_run is None
                   else f"{p.passed_last_run} of {p.scenarios} passed in the last run",
                   "proven": f"{p.proven_steps} of {p.then_steps} Then steps proven"}
                  for p in catalog.pools],
        "history": catalog.history and {**catalog.history,
                                        "when": when(catalog.history["newest_started_at"])},
        "never_ran": NEVER_RAN,
    }


def render_catalog(catalog: Catalog, fmt: str) -> str:
    """The catalog in one format (a ReportFormat, or its name)."""
    if fmt == ReportFormat.JSON:
        return json.dumps(catalog.to_dict(), indent=1, ensure_ascii=False) + "\n"
    if fmt not in set(ReportFormat):
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(ReportFormat)}")
    return environment().get_template(f"catalog/catalog.{fmt}.j2").render(**catalog_view(catalog))
