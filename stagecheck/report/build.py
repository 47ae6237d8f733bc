"""Building the result model at the end of a run: behave's model and what the run recorded,
the root-cause probes, the revenue roll-up and the verdict."""

from __future__ import annotations

import platform
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..client.redact import Redactor, excerpt
from ..errors import CheckFailed, TargetError
from ..run.record import RunRecorder, ScenarioRecord
from ..run.world import RunState
from ..vocabulary import Classification, Decision, Status, TargetKind
from ..wording import plural
from .capabilities import capabilities
from .diagnosis import diagnose
from .evidence import classify, describe_exchange, failing_exchange, probed_version
from .impact import BLAMED, business_tags, decide, owner_tag, roll_up
from .model import (
    RESULTS_SCHEMA_VERSION,
    HealthProbe,
    RunFacts,
    RunResult,
    ScenarioResult,
    SchemaProbe,
    StepResult,
    Verdict,
)

ORIGIN = re.compile(r"\b(?:https?|wss?)://[^/\s]+(?=/)")
OUTLINE_SUFFIX = re.compile(r"\s+-- @[\d.]+.*$")
UNVERIFIED_HINT = {Status.UNTESTED: "not reached: the run stopped before it",
                   Status.SKIPPED: "skipped"}
INTERRUPTED = "interrupted: the run was stopped during this scenario, so it was not verified"
# behave's words for what the model calls otherwise
BEHAVE_STATUS = {"hook_error": Status.ERROR, "pending_warn": Status.PASSED,
                 "executing": Status.UNTESTED}


def _status_named(status: Any) -> Status:
    name = status.name if hasattr(status, "name") else str(status)
    if name in BEHAVE_STATUS:
        return BEHAVE_STATUS[name]
    try:
        return Status(name)
    except ValueError:
        return Status.ERROR


_STATUS_OF: dict[Any, Status] = {}  # behave's status -> ours: a few values, asked per step


def _status(model: Any) -> Status:
    status = model.status
    try:
        return _STATUS_OF[status]
    except KeyError:
        return _STATUS_OF.setdefault(status, _status_named(status))


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("stagecheck", "behave", "httpx", "websockets"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def _step(step: Any, redact: Callable[[str], str], record: ScenarioRecord | None) -> StepResult:
    message = ""
    if step.error_message:
        message = str(step.error_message).strip()
    elif step.exception is not None:
        message = f"{type(step.exception).__name__}: {step.exception}".strip()
    return StepResult(step.keyword, step.name, _status(step), round(step.duration or 0.0, 6),
                      excerpt(redact(message), 4000) if message else "",
                      type(step.exception).__name__ if step.exception is not None else "",
                      step_type=str(step.step_type),
                      checks=record.step_checks.get(id(step)) if record else None)


def _failure(scenario: Any) -> BaseException | None:
    """The exception of the scenario's failing step, if any."""
    return next((s.exception for s in scenario.all_steps if s.exception is not None), None)


def _classification(result: ScenarioResult, failure: BaseException | None) -> Classification:
    """Why it failed: the network (a TargetError), what the failing check knew, or else the
    report's reading of the exchanges."""
    if isinstance(failure, TargetError):
        return failure.classification
    if isinstance(failure, CheckFailed) and failure.classification is not None:
        return failure.classification
    return classify(result, False)


def _key_finding(result: ScenarioResult, record: ScenarioRecord | None,
                 failure: BaseException | None) -> str:
    if result.failed:
        if isinstance(failure, CheckFailed) and failure.summary:
            return excerpt(failure.summary, 200)
        evidence = failing_exchange(result)
        if evidence and (evidence["error"] or (evidence["status"] or 0) >= 400):
            return describe_exchange(evidence)
        first = next((s.error_message for s in result.steps if s.error_message), "")
        line = first.replace("ASSERT FAILED: ", "").strip().splitlines()[0] if first else ""
        return excerpt(ORIGIN.sub("", line), 200) or "failed"  # paths read better than URLs
    if result.status == Status.DEGRADED and record is not None:
        return "degraded: " + "; ".join(record.degraded)
    if result.status == Status.PASSED:
        if record and record.key_finding:
            return record.key_finding
        return (f"{plural(len(result.exchanges), 'exchange')} with the target, "
                f"{plural(result.assertions, 'check')}")
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


def _undefined_step(scenario: Any) -> str:
    """The first step no step definition matches, as written in the feature; "" if none."""
    step = next((s for s in scenario.all_steps if _status(s) == Status.UNDEFINED), None)
    return f"{step.keyword} {step.name}" if step is not None else ""


def _blame(result: ScenarioResult, scenario: Any, failure: BaseException | None,
           record: ScenarioRecord | None, interrupted: bool) -> None:
    """Who is at fault, applied to the result: only the product's faults stay failed; a
    scenario that broke for the environment, the configuration or the gate's own defect is
    not judged; the scenario an interrupt cut short is not reached; one the run's policy kept
    from running is left out."""
    if record is not None and record.left_out:
        result.status, result.key_finding = Status.LEFT_OUT, record.left_out
        return
    if record is not None and record.not_reached:
        result.status, result.key_finding = Status.UNTESTED, record.not_reached
        result.skip_reason = ""
        return
    undefined = _undefined_step(scenario) if result.failed else ""
    if result.failed:
        result.classification = Classification.TEST if undefined \
            else _classification(result, failure)
    result.key_finding = (f"the step \u201c{undefined}\u201d is not defined: the gate's own defect "
                          "(a typo in the feature, or a step not written yet)") if undefined \
        else _key_finding(result, record, failure)
    if interrupted and result.status not in (Status.PASSED, Status.DEGRADED):
        result.status, result.classification = Status.UNTESTED, Classification.NONE
        result.key_finding = INTERRUPTED
    elif result.failed and not result.classification.product:
        result.status = Status.NOT_JUDGED
        result.key_finding = f"not judged, {BLAMED[result.classification]}: {result.key_finding}"


@lru_cache(maxsize=4096)  # the scenarios of a feature mostly share their tags
def _tag_facts(feature_tags: tuple[str, ...], scenario_tags: tuple[str, ...]
               ) -> tuple[int | None, float | None, str, str, tuple[str, ...]]:
    """Priority, revenue, area and owner from a scenario's tags and its feature's, and all
    of those tags, sorted."""
    return (*business_tags(feature_tags, scenario_tags), owner_tag(feature_tags, scenario_tags),
            tuple(sorted({*feature_tags, *scenario_tags})))


def scenario_result(feature: Any, scenario: Any, record: ScenarioRecord | None,
                    redact: Callable[[str], str], interrupted: bool = False) -> ScenarioResult:
    """A scenario's result; `interrupted`: the run was stopped while this one ran."""
    priority, revenue, area, owner, tags = _tag_facts(tuple(map(str, feature.tags)),
                                                      tuple(map(str, scenario.tags)))
    status = _status(scenario)
    if record is None and status == Status.SKIPPED:
        status = Status.UNTESTED  # selected, never reached
    if status == Status.PASSED and record is not None and record.degraded:
        status = Status.DEGRADED  # passed its hard budgets, not its soft ones
    steps = [_step(step, redact, record) for step in scenario.all_steps]
    result = ScenarioResult(
        name=OUTLINE_SUFFIX.sub("", scenario.name), feature=feature.name, location=str(scenario.location),
        tags=list(tags),
        priority=priority, revenue=revenue, area=area, status=status,
        duration_s=round((record.finished - record.started) if record and record.finished else 0.0, 6),
        steps=steps,
        exchanges=[e.to_dict() for e in record.exchanges] if record else [],
        assertions=record.checks if record else 0,
        error_message=next((s.error_message for s in steps if s.error_message), ""),
        skip_reason=redact(str(scenario.skip_reason or "")) if status == Status.SKIPPED else "",
        owner=owner,
        measures=dict(record.measures) if record else {},
    )
    _blame(result, scenario, _failure(scenario), record, interrupted)
    return result


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


LOAD_TAG = "load"  # the load tier's feature tag: its run says the scale it ran at


def tag_expression_of(config: Any) -> str:
    """The run's tag selection as one expression, as a user would type it: "" for a plain run,
    whose selection is the configuration's default (`tags` in [tool.behave])."""
    if not config.tags or config.tags == getattr(config, "config_tags", None):
        return ""
    return " and ".join(f"({t})" if " " in t else t for t in config.tags)


def rerun_command_for(tag_expression: str, target_name: str) -> str:
    """The command that runs the same selection against the same target again."""
    target = "" if target_name == TargetKind.LOCAL else f" -D target={target_name}"
    tags = f" --tags={tag_expression}" if tag_expression else ""
    return f"behave{tags}{target}"


@dataclass(frozen=True)
class Scenarios:
    """The selected scenarios: behave's (feature, scenario) pairs and their results, in order."""

    selected: list[tuple[Any, Any]]
    results: list[ScenarioResult]


def _each_once(redact: Redactor) -> Callable[[str], str]:
    """The redactor, each distinct text redacted once: a run's failures often say the same."""
    done: dict[str, str] = {}

    def redacted(text: str) -> str:
        found = done.get(text)
        if found is None:
            found = done[text] = redact(text)
        return found
    return redacted


def build_scenarios(context: Any, run: RunState, recorder: RunRecorder) -> Scenarios:
    """Each selected scenario's result, from behave's model and what the run recorded."""
    redact = _each_once(Redactor(run.settings.secrets + run.target.secrets))
    selected = list(selected_scenarios(context._runner.features, context.config, recorder.records))
    # An interrupt cuts short the scenario that began last: it is not reached, never failed.
    cut = next(reversed(recorder.records), None) if getattr(context, "aborted", False) else None
    return Scenarios(selected, [scenario_result(feature, scenario,
                                                recorder.records.get(id(scenario)), redact,
                                                interrupted=id(scenario) == cut)
                                for feature, scenario in selected])


def build_changed(facts: RunFacts) -> Verdict | None:
    """No verdict when the target named one build at the start and another at the end: part
    of the run judged each, so it is about neither."""
    before, after = facts.target_version_at_start, facts.target_version
    if before and after and before != after:
        return Verdict(Decision.NOT_JUDGED, f"the target changed during the run ({before}, then "
                                            f"{after}): this verdict would be about neither build")
    return None


def build_result(context: Any, run: RunState, recorder: RunRecorder, built: Scenarios,
                 health: HealthProbe, schema: SchemaProbe | None) -> RunResult:
    """The run's result model from behave's context, its scenarios and the probes' findings
    (made at the end of the run, by the gate)."""
    config = context.config
    redact = Redactor(run.settings.secrets + run.target.secrets)
    tag_expression = tag_expression_of(config)
    selected, scenarios = built.selected, built.results
    interrupted = bool(getattr(context, "aborted", False))
    diagnosis = diagnose(scenarios, health, schema, {
        "rerun": rerun_command_for(tag_expression, run.target.name),
        "backend": redact(run.target.backend_url),
        "database": "the platform's database"})
    finished = time.time()
    facts = RunFacts(
        run_id=recorder.run_id, started_at=iso(recorder.started_wall), finished_at=iso(finished),
        duration_s=round(time.perf_counter() - recorder.started, 3), target=run.target.name,
        backend_url=redact(run.target.backend_url), auth_url=redact(run.target.auth_url),
        ws_url=redact(run.target.ws_url), target_version=probed_version(health),
        tag_expression=tag_expression, stop_on_failure=bool(config.stop),
        interrupted=interrupted, insecure_tls=run.settings.insecure_tls,
        standin_faults=list(run.target.standin_faults), versions=versions(),
        standin_variant=run.target.standin_variant,
        expected_version=run.target.expected_version, target_version_at_start=run.version_at_start,
        load_scale=run.settings.load_scale if any(LOAD_TAG in s.tags for s in scenarios)
        else None)
    features = capabilities((result.feature, result.area, " ".join(
        line.strip() for line in feature.description or [])) for (feature, _), result
        in zip(selected, scenarios, strict=True))
    return RunResult(RESULTS_SCHEMA_VERSION, facts, scenarios, roll_up(scenarios),
                     build_changed(facts) or decide(scenarios), diagnosis,
                     shard=getattr(context, "gate_shard", None), capabilities=features)
