"""Sharded runs: `-D shard=K/N` runs a deterministic share of the selected scenarios, and
`stagecheck merge DIR…` builds one run (one verdict, one report, one history entry) from the
shards' partial results.

The split depends only on the selection and, when given, the durations of an earlier run
(`-D shard_timings=results.json`), so every machine computes the same one.

A part (`-D partial=true`, and every behavex parallel worker, which says `-D worker_id=N`) runs
what its runner gave it (behavex: one feature or scenario) and records the whole selection of
the configured features, so that the merge of all the parts in a report folder knows what no
part ran.
"""

from __future__ import annotations

import multiprocessing
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from behave.configuration import Configuration
from behave.model_core import Status as BehaveStatus
from behave.runner_util import collect_feature_locations, parse_features

from .errors import ResultsFileError, ShardError
from .history.store import scenario_key
from .report.build import OUTLINE_SUFFIX, rerun_command_for, versions
from .report.diagnosis import diagnose
from .report.impact import business_tags, decide, roll_up
from .report.model import (
    SCHEMA_VERSION,
    RunFacts,
    RunResult,
    ScenarioResult,
    SelectedScenario,
    Shard,
)
from .run.record import new_run_id
from .vocabulary import Status

NOT_IN_ANY_SHARD = "not run: the results of the shard that runs it were not merged"
NOT_IN_ANY_PART = "not run: no merged part ran it"
PART = 0  # Shard.count of a part: not one of N shards, but what its runner gave it
LINE = re.compile(r":(\d+)$")


@dataclass(frozen=True)
class Unit:
    """What a shard runs whole: a scenario, or a scenario outline with all its rows."""

    key: str
    model: Any  # behave's Scenario or ScenarioOutline
    feature: Any


def _units(features: Iterable[Any], config: Any) -> list[Unit]:
    units = []
    for feature in features:
        for scenario in feature.scenarios:
            if any(s.should_run_with_tags(config.tag_expression)
                   and s.should_run_with_name_select(config)
                   for s in getattr(scenario, "scenarios", [scenario])):
                units.append(Unit(scenario_key(feature.name, scenario.name), scenario, feature))
    return units


def durations_of(results_file: str) -> dict[str, float]:
    """Each scenario's duration in an earlier run, by feature and name (outline rows added up
    under their feature: they go to one shard together)."""
    if not results_file:
        return {}
    result = RunResult.from_json(Path(results_file).read_text(encoding="utf-8"))
    found: dict[str, float] = {}
    for s in result.scenarios:
        key = scenario_key(s.feature, OUTLINE_SUFFIX.sub("", s.name))
        found[key] = found.get(key, 0.0) + s.duration_s
    return found


def assign(keys: Sequence[str], count: int, durations: dict[str, float]) -> dict[str, int]:
    """Shard (1..count) of each key: longest first to the least loaded shard, ties broken by
    key and by shard number, so that the split is the same on every machine."""
    usual = statistics.median(durations.values()) if durations else 1.0
    weight = {key: durations.get(key, usual) for key in keys}
    loads = [0.0] * count
    shard_of: dict[str, int] = {}
    for key in sorted(keys, key=lambda k: (-weight[k], k)):
        index = min(range(count), key=lambda i: (loads[i], i))
        loads[index] += weight[key]
        shard_of[key] = index + 1
    return shard_of


def select_shard(features: list[Any], config: Any, index: int, count: int,
                 timings: str) -> Shard:
    """Keep in `features` only shard `index`'s share of the selected scenarios; the record
    names the whole selection and who runs what, so that a merge can tell what no shard ran."""
    units = _units(features, config)
    shard_of = assign([u.key for u in units], count, durations_of(timings))
    selection = []
    for unit in units:
        priority, revenue, area = business_tags(map(str, unit.feature.tags),
                                                map(str, unit.model.tags))
        selection.append(SelectedScenario(
            unit.key, unit.model.name, unit.feature.name, str(unit.model.location),
            sorted({*map(str, unit.feature.tags), *map(str, unit.model.tags)}), priority,
            revenue, area, shard_of[unit.key]))
    others = {id(u.model) for u in units if shard_of[u.key] != index}
    for feature in features:  # behave runs `run_items`; reports walk `scenarios`
        feature.scenarios[:] = [s for s in feature.scenarios if id(s) not in others]
        feature.run_items[:] = [s for s in feature.run_items if id(s) not in others]
    return Shard(index, count, selection)


def _pre_skipped(scenario: Any) -> bool:
    """Marked skipped before the run: behave does so for scenarios outside `file:line`."""
    return all(s.status == BehaveStatus.skipped for s in getattr(scenario, "scenarios", [scenario]))


def behavex_worker(userdata: Any) -> bool:
    """Whether this run is one of behavex's parallel pieces: behavex adds -D worker_id and runs
    them in its pool's processes, named behave_worker-N (its serial run is the main process)."""
    return "worker_id" in userdata and \
        multiprocessing.current_process().name.startswith("behave_worker-")


def select_part(features: list[Any], config: Any) -> Shard:
    """Keep in `features` only what this run was given (`file:line` locations); the record
    names the whole selection of the configured features, this part's share marked 1."""
    whole_paths = Configuration(command_args=[], load_config=True).paths or ["features"]
    whole = parse_features(collect_feature_locations(whole_paths), language=config.lang)
    mine = {u.key for u in _units(features, config) if not _pre_skipped(u.model)}
    selection = []
    for unit in _units(whole, config):
        priority, revenue, area = business_tags(map(str, unit.feature.tags),
                                                map(str, unit.model.tags))
        selection.append(SelectedScenario(
            unit.key, unit.model.name, unit.feature.name, str(unit.model.location),
            sorted({*map(str, unit.feature.tags), *map(str, unit.model.tags)}), priority,
            revenue, area, 1 if unit.key in mine else 0))
    for feature in features:
        feature.scenarios[:] = [s for s in feature.scenarios if not _pre_skipped(s)]
        feature.run_items[:] = [s for s in feature.run_items if not _pre_skipped(s)]
    return Shard(PART, PART, selection)


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
    results = [result for folder in folders for result in _load_all(Path(folder))]
    shards = [r.shard for r in results]
    if any(s is None for s in shards):
        raise ShardError("every folder to merge must hold a shard's results (-D shard=K/N) "
                         "or a part's (a behavex worker's, or -D partial=true)")
    _same(results, "target", lambda r: (r.facts.target, r.facts.standin_variant,
                                        sorted(r.facts.standin_faults)))
    _same(results, "kind", lambda r: r.shard.count == PART)
    _same(results, "target version", lambda r: r.facts.target_version)
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
        versions=versions(), standin_variant=first.facts.standin_variant)
    health = next((r.diagnosis.health for r in results if r.diagnosis.health), None)
    schema = next((r.diagnosis.schema for r in results if r.diagnosis.schema), None)
    diagnosis = diagnose(scenarios, health, schema, {
        "rerun": rerun_command_for(first.facts.tag_expression, first.facts.target),
        "backend": first.facts.backend_url, "database": "the platform's database"})
    capabilities = {c.name: c for r in results for c in r.capabilities}
    named = sorted(capabilities.values(), key=lambda c: order.get(c.name, len(order)))
    return RunResult(SCHEMA_VERSION, facts, scenarios, roll_up(scenarios), decide(scenarios),
                     diagnosis, merged_from=[r.facts.run_id for r in results],
                     capabilities=named)
