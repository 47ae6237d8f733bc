"""Building the result model at the end of a run, from behave's model and what we recorded."""

from __future__ import annotations

import platform
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from . import probes
from .errors import TargetError
from .exchanges import Exchange, Redactor, excerpt
from .impact import business_tags
from .results import ScenarioResult, StepResult

ORIGIN = re.compile(r"\b(?:https?|wss?)://[^/\s]+(?=/)")
OUTLINE_SUFFIX = re.compile(r"\s+-- @[\d.]+.*$")
UNVERIFIED_HINT = {"untested": "not reached: the run stopped before it",
                   "skipped": "skipped"}


@dataclass
class ScenarioRecord:
    """What the scenario fixture saw of one scenario while it ran."""

    started: float
    finished: float = 0.0
    exchanges: list[Exchange] = field(default_factory=list)
    assertions: int = 0
    finding: str = ""


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


@dataclass
class RunRecorder:
    """The run's id and start, and per-scenario records keyed by the scenario's identity."""

    run_id: str = field(default_factory=new_run_id)
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    records: dict[int, ScenarioRecord] = field(default_factory=dict)

    def begin(self, scenario: Any) -> ScenarioRecord:
        record = ScenarioRecord(started=time.perf_counter())
        self.records[id(scenario)] = record
        return record


def _status(model: Any) -> str:
    status = getattr(model.status, "name", str(model.status))
    return {"hook_error": "error", "pending": "pending", "pending_warn": "passed"}.get(status, status)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("stagecheck", "behave", "httpx", "websockets"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def _step(step: Any, redact: Redactor) -> StepResult:
    message = ""
    if step.error_message:
        message = str(step.error_message)
    elif step.exception is not None:
        message = f"{type(step.exception).__name__}: {step.exception}"
    return StepResult(step.keyword, step.name, _status(step), round(step.duration or 0.0, 6),
                      excerpt(redact(message.strip()), 4000),
                      type(step.exception).__name__ if step.exception is not None else "")


def _key_finding(result: ScenarioResult, record: ScenarioRecord | None) -> str:
    if result.failed:
        evidence = probes.failing_exchange(result)
        if evidence and (evidence["error"] or (evidence["status"] or 0) >= 400):
            return probes.describe_exchange(evidence)
        first = next((s.error_message for s in result.steps if s.error_message), "")
        line = first.replace("ASSERT FAILED: ", "").strip().splitlines()[0] if first else ""
        return excerpt(ORIGIN.sub("", line), 200) or "failed"  # paths read better than URLs
    if result.status == "passed":
        if record and record.finding:
            return record.finding
        return f"{len(result.exchanges)} exchange(s) with the target, {result.assertions} check(s)"
    return result.skip_reason or UNVERIFIED_HINT.get(result.status, result.status)


def selected_scenarios(features: Iterable[Any], config: Any,
                       recorded: dict[int, ScenarioRecord]) -> Iterable[tuple[Any, Any]]:
    """Every scenario the run selected (by tags and name), run or not: behave's JSON drops
    those that --stop left untested."""
    for feature in features:
        for scenario in feature.walk_scenarios():
            if id(scenario) in recorded or (
                    scenario.should_run_with_tags(config.tag_expression)
                    and scenario.should_run_with_name_select(config)):
                yield feature, scenario


def scenario_result(feature: Any, scenario: Any, record: ScenarioRecord | None,
                    redact: Redactor) -> ScenarioResult:
    priority, revenue, area = business_tags(feature.tags, scenario.tags)
    status = _status(scenario)
    if record is None and status == "skipped":
        status = "untested"  # selected, never reached
    steps = [_step(step, redact) for step in scenario.all_steps]
    result = ScenarioResult(
        name=OUTLINE_SUFFIX.sub("", scenario.name), feature=feature.name, location=str(scenario.location),
        tags=sorted({*map(str, feature.tags), *map(str, scenario.tags)}),
        priority=priority, revenue=revenue, area=area, status=status,
        duration_s=round((record.finished - record.started) if record and record.finished else 0.0, 6),
        steps=steps,
        exchanges=[e.to_dict() for e in record.exchanges] if record else [],
        assertions=record.assertions if record else 0,
        error_message=next((s.error_message for s in steps if s.error_message), ""),
        skip_reason=redact(str(scenario.skip_reason or "")) if status == "skipped" else "",
    )
    if result.failed:
        result.classification = probes.classify(result, any(
            isinstance(step.exception, TargetError) for step in scenario.all_steps))
    result.key_finding = _key_finding(result, record)
    return result


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
