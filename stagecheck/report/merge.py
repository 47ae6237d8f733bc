"""One run from the results of shards (`-D shard=K/N`) or of behavex's parts: one verdict, one
roll-up, the scenarios no merged shard ran counted as not verified."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ResultsFileError, ShardError
from ..run.record import new_run_id
from ..vocabulary import Status
from .build import build_changed, rerun_command_for, versions
from .diagnosis import diagnose
from .impact import decide, roll_up
from .model import PART, RESULTS_SCHEMA_VERSION, RunFacts, RunResult, ScenarioResult, SelectedScenario

NOT_IN_ANY_SHARD = "not run: the results of the shard that runs it were not merged"


NOT_IN_ANY_PART = "not run: no merged part ran it"


LINE = re.compile(r":(\d+)$")


def _load(folder: Path) -> RunResult:
    """A shard's results: DIR/latest/results.json, DIR/results.json, or the file itself."""
    for candidate in (folder / "latest" / "results.json", folder / "results.json", folder):
        if candidate.is_file():
            try:
                return RunResult.from_json(candidate.read_text(encoding="utf-8"))
            except (ResultsFileError, UnicodeDecodeError) as exc:
                raise ShardError(f"{candidate} is not a stagecheck results file: {exc}") from None
    raise ShardError(f"no results.json in {folder}")


def _load_all(folder: Path) -> list[RunResult]:
    """A shard's results; or, for a report folder whose latest run is a part, every part in it."""
    first = _load(folder)
    if first.shard is None or first.shard.count != PART or not (folder / "latest").exists():
        return [first]
    parts = [_load(run) for run in sorted(folder.iterdir())
             if run.is_dir() and not run.is_symlink() and (run / "results.json").is_file()]
    return [r for r in parts if r.shard is not None and r.shard.count == PART]


def _merge_parts(results: list[RunResult]) -> list[ScenarioResult]:
    """The parts' scenarios, and a stub for each selected one that no part ran."""
    _same(results, "selection", lambda r: (r.facts.tag_expression,
                                           [s.key for s in r.shard.selection]))
    runs = [r.facts.run_id for r in results]
    twice = next((run for run in runs if runs.count(run) > 1), "")
    if twice:
        raise ShardError(f"the part {twice} is given twice: give each behavex run its own "
                         "report_dir")
    # behavex may run an outline's rows in more than one worker: a scenario run by two parts
    # counts once, with the worse outcome (a failure anywhere is a failure).
    kept: dict[tuple[str, str, str], ScenarioResult] = {}
    for result in results:
        for scenario in result.scenarios:
            identity = (scenario.feature, scenario.name, scenario.location)
            earlier = kept.get(identity)
            if earlier is None or _worse(scenario, earlier):
                kept[identity] = scenario
    ran = {selected.key for result in results if result.shard is not None
           for selected in result.shard.selection if selected.shard}
    first = results[0].shard
    assert first is not None
    return list(kept.values()) + [
        replace(_stub(s), key_finding=NOT_IN_ANY_PART) for s in first.selection
        if s.key not in ran]


def _worse(one: ScenarioResult, other: ScenarioResult) -> bool:
    """Whether `one` is the worse outcome: failed, then degraded, then passed, then not run."""
    def rank(s: ScenarioResult) -> int:
        return 3 if s.failed else 2 if s.status == Status.DEGRADED else 1 if s.status.ran else 0
    return rank(one) > rank(other)


def _same(results: list[RunResult], what: str, value: Any) -> None:
    first = value(results[0])
    for result in results[1:]:
        if value(result) != first:
            raise ShardError(f"the shards differ in {what}: merge the shards of one run only")


def _stub(selected: SelectedScenario) -> ScenarioResult:
    return ScenarioResult(name=selected.name, feature=selected.feature,
                          location=selected.location, tags=selected.tags,
                          priority=selected.priority, revenue=selected.revenue,
                          area=selected.area, status=Status.UNTESTED, duration_s=0.0,
                          key_finding=NOT_IN_ANY_SHARD)


def _wall(results: list[RunResult]) -> float:
    """From the first shard's start to the last one's end, at least the longest shard."""
    started = min(datetime.fromisoformat(r.facts.started_at) for r in results)
    finished = max(datetime.fromisoformat(r.facts.finished_at) for r in results)
    return round(max((finished - started).total_seconds(),
                     max(r.facts.duration_s for r in results)), 3)


def merge(folders: Sequence[Path]) -> RunResult:
    """One run from the shards' results; ShardError (one sentence) when they cannot be merged."""
    return merge_results([result for folder in folders for result in _load_all(Path(folder))])


def merge_results(results: list[RunResult]) -> RunResult:
    """One run from shards' or parts' results already read."""
    shards = [r.shard for r in results]
    if any(s is None for s in shards):
        raise ShardError("every folder to merge must hold a shard's results (-D shard=K/N) "
                         "or a part's (a behavex worker's, or -D partial=true)")
    _same(results, "target", lambda r: (r.facts.target, r.facts.standin_variant,
                                        sorted(r.facts.standin_faults)))
    _same(results, "kind", lambda r: r.shard.count == PART)
    _same(results, "target version", lambda r: r.facts.target_version)
    _same(results, "build released", lambda r: r.facts.expected_version)
    if results[0].shard and results[0].shard.count == PART:
        return _merged(results, _merge_parts(results))
    _same(results, "selection", lambda r: (r.facts.tag_expression, r.shard.count,
                                           [(s.key, s.shard) for s in r.shard.selection]))
    by_index: dict[int, RunResult] = {}
    for result in results:
        assert result.shard is not None
        if result.shard.index in by_index:
            raise ShardError(f"shard {result.shard.index}/{result.shard.count} is given twice: "
                             "its scenarios would count twice")
        by_index[result.shard.index] = result
    first = results[0].shard
    assert first is not None
    scenarios = [s for r in results for s in r.scenarios]
    scenarios += [_stub(s) for s in first.selection if s.shard not in by_index]
    return _merged(results, scenarios)


def _merged(results: list[RunResult], scenarios: list[ScenarioResult]) -> RunResult:
    """One run of the shards' (or parts') results and scenarios, in the selection's order."""
    first = results[0]
    assert first.shard is not None
    order = {f.feature: i for i, f in reversed(list(enumerate(first.shard.selection)))}

    def position(s: ScenarioResult) -> tuple[int, int]:
        line = LINE.search(s.location)
        return order.get(s.feature, len(order)), int(line[1]) if line else 0

    scenarios.sort(key=position)
    facts = RunFacts(
        run_id=new_run_id(), started_at=min(r.facts.started_at for r in results),
        finished_at=max(r.facts.finished_at for r in results), duration_s=_wall(results),
        target=first.facts.target, backend_url=first.facts.backend_url,
        auth_url=first.facts.auth_url, ws_url=first.facts.ws_url,
        target_version=first.facts.target_version, tag_expression=first.facts.tag_expression,
        stop_on_failure=any(r.facts.stop_on_failure for r in results),
        interrupted=any(r.facts.interrupted for r in results),
        standin_faults=first.facts.standin_faults, insecure_tls=first.facts.insecure_tls,
        versions=versions(), standin_variant=first.facts.standin_variant,
        expected_version=first.facts.expected_version, load_scale=first.facts.load_scale,
        # The build at the start of the first shard to start: a deploy between shards is seen.
        target_version_at_start=min(results, key=lambda r: r.facts.started_at
                                    ).facts.target_version_at_start)
    health = next((r.diagnosis.health for r in results if r.diagnosis.health), None)
    schema = next((r.diagnosis.schema for r in results if r.diagnosis.schema), None)
    diagnosis = diagnose(scenarios, health, schema, {
        "rerun": rerun_command_for(first.facts.tag_expression, first.facts.target),
        "backend": first.facts.backend_url, "database": "the platform's database"})
    capabilities = {c.name: c for r in results for c in r.capabilities}
    named = sorted(capabilities.values(), key=lambda c: order.get(c.name, len(order)))
    return RunResult(RESULTS_SCHEMA_VERSION, facts, scenarios, roll_up(scenarios),
                     build_changed(facts) or decide(scenarios), diagnosis,
                     merged_from=[r.facts.run_id for r in results], capabilities=named)
