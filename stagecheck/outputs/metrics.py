"""The gate's results as Prometheus metrics (prometheus-client): per target and selection (tag
expression), the last run's verdict, revenue at risk, tiers and scenarios by status, all from
the same run; per target, scenario durations as histograms and runs counted. Served by
`stagecheck serve` at /metrics, and written after a command-line run to a textfile-collector
file (`-D metrics_file=`), which each run reads back first so that counters keep counting and
other targets and selections keep their values.

Each selection is a set of series, so the selections kept are bounded: the `MAX_SELECTIONS`
most recently run (target, selection) pairs; an older one's series are dropped whole."""

from __future__ import annotations

import fcntl
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ..report.model import RunResult, target_key
from ..vocabulary import Decision, Status
from .published import Published

PREFIX = "stagecheck"
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, math.inf)
NOT_JUDGED = "not judged"  # a run that ended without a verdict (service runs only)
MAX_SELECTIONS = 20  # (target, tag expression) pairs whose last run is kept, most recent first
Selection = tuple[str, str]  # (target, tag expression)


@dataclass
class _Histogram:
    counts: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))  # cumulative
    total: float = 0.0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[index] += 1
        self.total += value


def result_target(result: RunResult) -> str:
    """A run's target as the history names it (the stand-in with its faults, or the URL)."""
    facts = result.facts
    return target_key(facts.target, facts.backend_url, tuple(facts.standin_faults),
                      facts.standin_variant)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


class GateMetrics:
    """The metrics of the runs seen so far; a prometheus-client collector."""

    def __init__(self) -> None:
        # per selection, (target, tags) first in every key: the last run of that selection
        self.verdicts: dict[Selection, str] = {}                # -> decision
        self.at_risk: dict[Selection, float] = {}
        self.unverified: dict[Selection, float] = {}
        self.tier_at_risk: dict[tuple[str, str, str], float] = {}         # + tier
        self.tier_scenarios: dict[tuple[str, str, str, str], float] = {}  # + tier, outcome
        self.scenarios: dict[tuple[str, str, str], float] = {}            # + status
        self.selection_run: dict[Selection, float] = {}         # when it last ran (Unix time)
        # per target: counted over every run
        self.durations: dict[tuple[str, str], _Histogram] = {}  # (target, feature)
        self.runs: dict[tuple[str, str], float] = {}            # (target, decision)
        self.last_run: dict[str, float] = {}

    def _per_selection(self) -> tuple[dict[Any, Any], ...]:
        return (self.verdicts, self.at_risk, self.unverified, self.tier_at_risk,
                self.tier_scenarios, self.scenarios, self.selection_run)

    def _forget(self, selection: Selection) -> None:
        """Drop a selection's series, all of them, so that what is left is one run's each."""
        for table in self._per_selection():
            for key in [k for k in table if k[:2] == selection]:
                del table[key]

    def observe(self, result: RunResult, now: float | None = None) -> None:
        """Take in a run's result: its figures replace its selection's on its target (and only
        those), its counts add up; beyond MAX_SELECTIONS the least recently run is dropped."""
        now = time.time() if now is None else now
        selection = (result_target(result), result.facts.tag_expression)
        self._forget(selection)
        self.verdicts[selection] = str(result.verdict.decision)
        self.at_risk[selection] = result.impact.revenue_at_risk
        self.unverified[selection] = result.impact.revenue_unverified
        for tier in result.impact.by_priority:
            self.tier_at_risk[(*selection, tier.name)] = tier.at_risk
            for outcome, count in (("passed", tier.passed), ("failed", tier.failed),
                                   ("not verified", tier.unverified)):
                self.tier_scenarios[(*selection, tier.name, outcome)] = count
        for status in Status:
            self.scenarios[(*selection, status)] = sum(s.status == status for s in result.scenarios)
        self.selection_run[selection] = now
        for scenario in result.scenarios:
            if scenario.status.ran:
                self.durations.setdefault((selection[0], scenario.feature), _Histogram()).observe(
                    scenario.duration_s)
        self.count_run(selection[0], str(result.verdict.decision), now)
        known = {key[:2] for table in self._per_selection() for key in table}
        for old in sorted(known, key=lambda s: (self.selection_run.get(s, 0.0), s),
                          reverse=True)[MAX_SELECTIONS:]:
            self._forget(old)

    def count_run(self, target: str, decision: str, now: float | None = None) -> None:
        self.runs[(target, decision)] = self.runs.get((target, decision), 0) + 1
        self.last_run[target] = time.time() if now is None else now

    def collect(self) -> Iterator[Metric]:
        verdict = GaugeMetricFamily(
            f"{PREFIX}_verdict", "The last verdict per target and selection: 1 for the "
            "decision it reached, 0 for the others.", labels=["target", "tags", "decision"])
        for (target, tags), decision in sorted(self.verdicts.items()):
            for option in Decision:
                verdict.add_metric([target, tags, option], float(decision == option))
        yield verdict
        selection = ["target", "tags"]
        yield _gauge(f"{PREFIX}_revenue_at_risk_dollars", "Monthly revenue at risk in the last "
                     "run of the selection (failed tiers' revenue).", selection, self.at_risk)
        yield _gauge(f"{PREFIX}_revenue_unverified_dollars", "Monthly revenue whose scenarios "
                     "did not run in the last run of the selection.", selection, self.unverified)
        yield _gauge(f"{PREFIX}_tier_revenue_at_risk_dollars", "Monthly revenue at risk per "
                     "priority tier in the last run of the selection.", [*selection, "tier"],
                     self.tier_at_risk)
        yield _gauge(f"{PREFIX}_tier_scenarios", "Scenarios per priority tier and outcome in the "
                     "last run of the selection.", [*selection, "tier", "outcome"],
                     self.tier_scenarios)
        yield _gauge(f"{PREFIX}_scenarios", "Scenarios by status in the last run of the "
                     "selection.", [*selection, "status"], self.scenarios)
        yield _gauge(f"{PREFIX}_selection_last_run_timestamp_seconds", "When the last run of the "
                     "selection ended (Unix time); the most recent selections are kept.",
                     selection, self.selection_run)
        durations = HistogramMetricFamily(
            f"{PREFIX}_scenario_duration_seconds", "How long the scenarios that ran took.",
            labels=["target", "feature"])
        for (target, feature), histogram in sorted(self.durations.items()):
            durations.add_metric([target, feature],
                                 [(_le(b), c) for b, c in zip(BUCKETS, histogram.counts,
                                                              strict=True)], histogram.total)
        yield durations
        runs = CounterMetricFamily(f"{PREFIX}_runs", "Runs of the gate, by verdict.",
                                   labels=["target", "decision"])
        for (target, decision), count in sorted(self.runs.items()):
            runs.add_metric([target, decision], count)
        yield runs
        yield _gauge(f"{PREFIX}_last_run_timestamp_seconds", "When the last run on the target "
                     "ended (Unix time).", ["target"], self.last_run)

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return registry

    def exposition(self) -> bytes:
        return generate_latest(self.registry())

    @classmethod
    def from_text(cls, text: str) -> GateMetrics:
        """The metrics an earlier exposition held (ValueError when it is not one)."""
        metrics = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                metrics._restore(sample.name, sample.labels, sample.value)
        return metrics

    def _restore(self, name: str, labels: dict[str, str], value: float) -> None:
        target = labels.get("target", "")
        simple: dict[str, tuple[dict, tuple[str, ...]]] = {
            f"{PREFIX}_revenue_at_risk_dollars": (self.at_risk, ("tags",)),
            f"{PREFIX}_revenue_unverified_dollars": (self.unverified, ("tags",)),
            f"{PREFIX}_tier_revenue_at_risk_dollars": (self.tier_at_risk, ("tags", "tier")),
            f"{PREFIX}_tier_scenarios": (self.tier_scenarios, ("tags", "tier", "outcome")),
            f"{PREFIX}_scenarios": (self.scenarios, ("tags", "status")),
            f"{PREFIX}_selection_last_run_timestamp_seconds": (self.selection_run, ("tags",)),
            f"{PREFIX}_runs_total": (self.runs, ("decision",)),
            f"{PREFIX}_last_run_timestamp_seconds": (self.last_run, ()),
        }
        if name in simple:
            table, extra = simple[name]
            key = (target, *(labels.get(label, "") for label in extra)) if extra else target
            table[key] = value
        elif name == f"{PREFIX}_verdict" and value == 1:
            self.verdicts[(target, labels.get("tags", ""))] = labels.get("decision", "")
        elif name.startswith(f"{PREFIX}_scenario_duration_seconds"):
            histogram = self.durations.setdefault((target, labels.get("feature", "")),
                                                  _Histogram())
            if name.endswith("_bucket"):
                bounds = [_le(b) for b in BUCKETS]
                if labels.get("le") in bounds:
                    histogram.counts[bounds.index(labels["le"])] = value
            elif name.endswith("_sum"):
                histogram.total = value


def _gauge(name: str, documentation: str, labels: list[str],
           values: Mapping[Any, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def write_metrics_file(path: str | Path, results: Iterable[RunResult]) -> None:
    """Add runs to a textfile-collector file, atomically (prometheus-client writes a temporary
    file and renames it) and one writer at a time (a lock file beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            metrics = GateMetrics.from_text(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            metrics = GateMetrics()
        except ValueError:  # not an exposition we can read: start again rather than fail
            metrics = GateMetrics()
        for result in results:
            metrics.observe(result)
        write_to_textfile(str(path), metrics.registry())


def publish(result: RunResult, published: Published) -> None:
    """The run added to `-D metrics_file=`, when set; a failure is one line."""
    path = published.settings.metrics_file
    if not path:
        return
    try:
        write_metrics_file(path, [result])
    except OSError as exc:
        published.say(f"stagecheck: the metrics could not be written to {path}: "
                      f"{exc.strerror or exc}")
