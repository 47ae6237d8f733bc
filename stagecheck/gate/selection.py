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
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behave.configuration import Configuration
from behave.model_core import Status as BehaveStatus
from behave.runner_util import collect_feature_locations, parse_features

from ..report.build import OUTLINE_SUFFIX
from ..report.impact import business_tags
from ..report.model import PART, RunResult, SelectedScenario, Shard, scenario_key


@dataclass(frozen=True)
class Unit:
    """What a shard runs whole: a scenario, or a scenario outline with all its rows."""

    key: str
    model: Any  # behave's Scenario or ScenarioOutline
    feature: Any


def units_of(features: Iterable[Any], config: Any) -> list[Unit]:
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
    units = units_of(features, config)
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
    mine = {u.key for u in units_of(features, config) if not _pre_skipped(u.model)}
    selection = []
    for unit in units_of(whole, config):
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
