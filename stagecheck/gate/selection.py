"""Sharded runs: `-D shard=K/N` runs a deterministic share of the selected scenarios, and
`stagecheck merge DIR…` builds one run (one verdict, one report, one history entry) from the
shards' partial results. Before any of that, a selection that names a tag no feature carries
(`@P1`, `@p7`, `@pl`) or selects nothing is refused in one sentence.

The split depends only on the selection and, when given, the durations of an earlier run
(`-D shard_timings=results.json`), so every machine computes the same one.

A part (`-D partial=true`, and every behavex parallel worker, which says `-D worker_id=N`) runs
what its runner gave it (behavex: one feature or scenario) and records the whole selection of
the configured features, so that the merge of all the parts in a report folder knows what no
part ran.
"""

from __future__ import annotations

import difflib
import multiprocessing
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behave.configuration import Configuration
from behave.model_core import Status as BehaveStatus
from behave.runner_util import collect_feature_locations, parse_features

from ..errors import ConfigError
from ..report.build import OUTLINE_SUFFIX, tag_expression_of
from ..report.impact import business_tags, is_priority_tag, parse_priority
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


# The words of a tag expression that are not tags: v2's operators and parentheses, v1's ~ and ,.
_OPERATORS = {"and", "or", "not"}
_SEPARATORS = re.compile(r"[\s(),]+")


def named_tags(tags: Any) -> list[str]:
    """The tags a --tags expression names, without their @ (behave's config.tags: one
    expression, or the --tags options given)."""
    texts = [tags] if isinstance(tags, str) else [str(t) for t in tags or []]
    words = _SEPARATORS.split(" ".join(texts))
    return [w.lstrip("~-").lstrip("@") for w in words if w and w.lower() not in _OPERATORS]


def _tag_mistake(tag: str, carried: set[str]) -> tuple[str, bool]:
    """Why naming `tag`, which no feature or scenario carries, is a mistake, and whether it is
    one whatever else the expression selects (a priority miswritten, a tag in another case)."""
    same = [t for t in sorted(carried) if t.lower() == tag.lower()]
    if same:
        return f"tags are case-sensitive: write @{same[0]}", True
    if parse_priority(tag) is not None:  # @p1 … @p6: a mistake only in capitals
        return ("", False) if tag == tag.lower() else (f"write @{tag.lower()}", True)
    if is_priority_tag(tag) or re.fullmatch(r"[pP]\w", tag):
        return "a priority is @p1 to @p6", True
    close = difflib.get_close_matches(tag, sorted(carried), n=1, cutoff=0.6)
    return (f"did you mean @{close[0]}?" if close else ""), False


def check_selection(features: Sequence[Any], config: Any) -> None:
    """ConfigError, in one sentence naming the mistake, when --tags names a priority wrongly
    (@P1, @p7, @pl) or a tag in another case than the features', or the selection (tags and
    names) matches no scenario."""
    carried = {str(t) for f in features for t in f.tags} | {
        str(t) for f in features for s in f.walk_scenarios() for t in s.effective_tags}
    typed = tag_expression_of(config)  # "" for a plain run: the configuration's default
    named = [t for t in dict.fromkeys(named_tags(config.tags)) if "*" not in t] if typed else []
    unknown = [(tag, *_tag_mistake(tag, carried)) for tag in named if tag not in carried]
    for tag, hint, always in unknown:
        if always:
            raise ConfigError(f"--tags={typed} names @{tag}, which no feature or scenario "
                              f"carries; {hint}")
    if any(s.should_run_with_tags(config.tag_expression) and s.should_run_with_name_select(config)
           for f in features for s in f.walk_scenarios()):
        return
    if unknown and not config.name:
        hints = [f"@{tag}" + (f" ({hint})" if hint else "") for tag, hint, _ in unknown]
        raise ConfigError(f"--tags={typed} selects no scenario: no feature or scenario is tagged "
                          + " or ".join(hints))
    asked = [*([f"--tags={typed}"] if typed else []),
             *(f"--name {name}" for name in config.name or [])] or ["of the configured features"]
    raise ConfigError(f"the selection {' and '.join(asked)} matches no scenario: check it "
                      "against the feature files' tags and names")


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


def pre_skipped(scenario: Any) -> bool:
    """Marked skipped before the run: behave does so for scenarios outside `file:line`."""
    return all(s.status == BehaveStatus.skipped for s in getattr(scenario, "scenarios", [scenario]))


def behavex_worker(userdata: Any) -> bool:
    """Whether this run is one of behavex's parallel pieces: behavex adds -D worker_id and runs
    them in its pool's processes, named behave_worker-N (its serial run is the main process)."""
    return "worker_id" in userdata and \
        multiprocessing.current_process().name.startswith("behave_worker-")


def part_selection(units: Sequence[Unit], mine: set[str]) -> Shard:
    """A part's record: the whole selection (`units`), the part's share (`mine`) marked 1."""
    selection = []
    for unit in units:
        priority, revenue, area = business_tags(map(str, unit.feature.tags),
                                                map(str, unit.model.tags))
        selection.append(SelectedScenario(
            unit.key, unit.model.name, unit.feature.name, str(unit.model.location),
            sorted({*map(str, unit.feature.tags), *map(str, unit.model.tags)}), priority,
            revenue, area, 1 if unit.key in mine else 0))
    return Shard(PART, PART, selection)


def select_part(features: list[Any], config: Any) -> Shard:
    """Keep in `features` only what this run was given (`file:line` locations); the record
    names the whole selection of the configured features, this part's share marked 1."""
    whole_paths = Configuration(command_args=[], load_config=True).paths or ["features"]
    whole = parse_features(collect_feature_locations(whole_paths), language=config.lang)
    mine = {u.key for u in units_of(features, config) if not pre_skipped(u.model)}
    for feature in features:
        feature.scenarios[:] = [s for s in feature.scenarios if not pre_skipped(s)]
        feature.run_items[:] = [s for s in feature.run_items if not pre_skipped(s)]
    return part_selection(units_of(whole, config), mine)
