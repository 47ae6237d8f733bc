"""The catalog, built once from the feature files, the proofs, the history and (with `since`) the
feature files at an earlier git ref; every renderer (HTML, Markdown, JSON) reads only this."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..report.capabilities import load_table
from ..report.impact import tier_name
from .changes import SpecChange, spec_changes
from .glossary import Forbidden, jargon, load_glossary
from .proofs import Proofs, load_proofs
from .spec import Feature, Scenario, read_features, read_features_at
from .standing import HistoryView, Standing, read_history, standing_of

MIN_TIER_SCENARIOS = 4   # a tier with fewer is too thin to judge a release on
NOT_PASSED_RUNS = 5      # a scenario that has not passed in this many runs is for review
NO_HISTORY = "no history"
NEVER_RAN = "not run"


class ReviewKind(StrEnum):
    NO_OWNER = "no owner"
    UNPROVEN_STEP = "Then step no fault proves"
    THIN_TIER = "tier with fewer than four scenarios"
    JARGON = "not business language"
    NOT_PASSED = "not passed in recent runs"


@dataclass(frozen=True)
class Entry:
    """A scenario in the catalog: its specification and how it stood."""

    scenario: Scenario
    status: str                  # its last status, NEVER_RAN, or NO_HISTORY: what filters use
    standing: Standing | None


@dataclass(frozen=True)
class Capability:
    """A feature, headed by what it lets people do (report/capabilities.toml)."""

    feature: str
    words: str
    description: str
    file: str
    tier: int | None
    revenue: float | None
    area: str
    owner: str
    entries: list[Entry]


@dataclass(frozen=True)
class Pool:
    """A tier's revenue pool: its scenarios, how many passed in the last run, what is unproven."""

    name: str
    revenue: float
    scenarios: int
    passed_last_run: int | None  # None without history
    not_verified: list[str]      # scenarios that did not pass in the last run
    then_steps: int
    proven_steps: int


@dataclass(frozen=True)
class ReviewItem:
    kind: ReviewKind
    subject: str
    anchor: str
    detail: str


@dataclass(frozen=True)
class Catalog:
    generated_at: str
    features_folder: str
    counts: dict[str, int]
    capabilities: list[Capability]
    pools: list[Pool]
    review: list[ReviewItem]
    since: str = ""
    changes: list[SpecChange] = field(default_factory=list)
    history: dict[str, Any] | None = None

    def entries(self) -> list[Entry]:
        return [entry for capability in self.capabilities for entry in capability.entries]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _proven(scenario: Scenario, proofs: Proofs) -> Scenario:
    steps = [dataclasses.replace(step, faults=proofs.proving(scenario.name, step.text))
             if step.step_type == "then" else step for step in scenario.steps]
    return dataclasses.replace(scenario, steps=steps)


def _entry(scenario: Scenario, view: HistoryView | None) -> Entry:
    standing = standing_of(view, scenario.feature, scenario.name)
    if standing is None:
        return Entry(scenario, NO_HISTORY, None)
    return Entry(scenario, standing.last_status or NEVER_RAN, standing)


def _capability(feature: Feature, entries: list[Entry], table: dict[str, dict[str, Any]]) -> Capability:
    first = feature.scenarios[0] if feature.scenarios else None
    entry = table.get(feature.name, {})
    who = str(entry.get("who", "users"))
    words = f"{who[:1].upper()}{who[1:]} can {entry['can']}." if entry.get("can") else ""
    return Capability(feature.name, words, feature.description, feature.file,
                      first.tier if first else None, first.revenue if first else None,
                      first.area if first else "", first.owner if first else "", entries)


def _pools(entries: list[Entry], view: HistoryView | None) -> list[Pool]:
    pools = []
    for tier in sorted({e.scenario.tier for e in entries}, key=lambda t: (t is None, t or 0)):
        mine = [e for e in entries if e.scenario.tier == tier]
        then = [step for e in mine for step in e.scenario.steps if step.step_type == "then"]
        passed = [e for e in mine if e.standing is not None and e.standing.in_last_run
                  and e.standing.last_status == "passed"]
        pools.append(Pool(
            name=tier_name(tier), revenue=max(e.scenario.revenue or 0.0 for e in mine),
            scenarios=len(mine), passed_last_run=len(passed) if view is not None else None,
            not_verified=[e.scenario.name for e in mine if e not in passed] if view else [],
            then_steps=len(then), proven_steps=sum(bool(step.faults) for step in then)))
    return pools


def _words(s: Scenario) -> str:
    """A scenario's words as a reader sees them: its name, steps and their tables' cells."""
    lines = [s.name]
    for step in s.steps:
        lines.append(step.text)
        lines += [" | ".join(row) for row in step.table.rows] if step.table else []
    return "\n".join(lines)


def _jargon(features: list[Feature], glossary: list[Forbidden]) -> list[ReviewItem]:
    found: list[ReviewItem] = []
    for feature in features:
        for words in jargon(f"{feature.name}\n{feature.description}", glossary):
            found.append(ReviewItem(ReviewKind.JARGON, feature.name, "",
                                    f"{words.what}: “{words.words}” ({feature.file})"))
        for s in feature.scenarios:
            found += [ReviewItem(ReviewKind.JARGON, s.name, s.anchor, f"{w.what}: “{w.words}”")
                      for w in jargon(_words(s), glossary)]
    return found


def _review(features: list[Feature], entries: list[Entry], view: HistoryView | None,
            glossary: list[Forbidden], not_passed_runs: int) -> list[ReviewItem]:
    items = [ReviewItem(ReviewKind.NO_OWNER, e.scenario.name, e.scenario.anchor,
                        f"{e.scenario.feature}: no @owner tag") for e in entries if not e.scenario.owner]
    items += [ReviewItem(ReviewKind.UNPROVEN_STEP, e.scenario.name, e.scenario.anchor,
                         f"{step.keyword} {step.text}")
              for e in entries for step in e.scenario.steps
              if step.step_type == "then" and not step.faults]
    for tier in sorted({e.scenario.tier for e in entries}, key=lambda t: (t is None, t or 0)):
        count = sum(e.scenario.tier == tier for e in entries)
        if count < MIN_TIER_SCENARIOS:
            items.append(ReviewItem(ReviewKind.THIN_TIER, tier_name(tier), "",
                                    f"{count} of at least {MIN_TIER_SCENARIOS} scenarios"))
    items += _jargon(features, glossary)
    if view is not None and len(view.runs) >= not_passed_runs:
        items += [ReviewItem(ReviewKind.NOT_PASSED, e.scenario.name, e.scenario.anchor,
                             f"not passed in the last {e.standing.runs_without_pass} runs")
                  for e in entries if e.standing is not None and e.standing.trend
                  and e.standing.runs_without_pass >= not_passed_runs]  # ran, never passed
    return items


def build_catalog(folder: Path, history: Path | None = None, since: str = "", target: str = "",
                  not_passed_runs: int = NOT_PASSED_RUNS, window: int = 10,
                  now: datetime | None = None) -> Catalog:
    """The catalog of the feature files in `folder` (ConfigError when they or `since` cannot be
    read; HistoryError when the history cannot)."""
    features = read_features(folder)
    proofs, glossary, table = load_proofs(), load_glossary(), load_table()
    view = read_history(history, target, max(window, not_passed_runs)) if history else None
    capabilities = [_capability(f, [_entry(_proven(s, proofs), view) for s in f.scenarios], table)
                    for f in sorted(features, key=lambda f: (f.scenarios[0].tier or 99 if f.scenarios
                                                             else 99, f.file))]
    entries = [e for c in capabilities for e in c.entries]
    then = [step for e in entries for step in e.scenario.steps if step.step_type == "then"]
    pools = _pools(entries, view)
    counts = {"features": len(features), "scenarios": len(entries),
              "steps": sum(len(e.scenario.steps) for e in entries), "then_steps": len(then),
              "proven_then_steps": sum(bool(step.faults) for step in then),
              "pools": len(pools), "destructive": sum(e.scenario.destructive for e in entries)}
    changes = spec_changes(read_features_at(folder, since), features) if since else []
    return Catalog(
        generated_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        features_folder=str(folder), counts=counts, capabilities=capabilities, pools=pools,
        review=_review(features, entries, view, glossary, not_passed_runs), since=since,
        changes=changes, history=None if view is None else {
            "path": view.path, "target": view.target, "runs": len(view.runs),
            "newest_run": view.runs[0].run_id, "newest_started_at": view.runs[0].started_at})
