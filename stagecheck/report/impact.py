"""Business impact: priority and revenue from tags, revenue pools, and the release verdict."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import parse

from ..errors import ConfigError
from ..vocabulary import FAILED, UNVERIFIED, Classification, Decision, Status
from ..wording import plural
from .model import Impact, ScenarioResult, TierImpact, Verdict

ROLLUP_RULE = (
    "Each priority tier's revenue (its @mrr tag) is one pool, counted once however many of its "
    "scenarios fail. At risk: the pools of tiers with a failed or errored scenario, or with a "
    "degraded one (over its soft budget, within its hard one). Unverified: "
    "the pools of tiers with a scenario that did not run (untested after --stop, skipped), "
    "unless already at risk.")

_PRIORITY = parse.compile("p{level:d}")
# A positive amount, plain or with a k or m unit: mrr:120k, mrr:1.5m, mrr:80000.
_MRR = re.compile(r"mrr:(?P<amount>\d+(?:\.\d+)?)(?P<unit>[km]?)", re.IGNORECASE)
_UNITS = {"": 1.0, "k": 1e3, "m": 1e6}
_OWNER = re.compile(r"owner:(?P<name>[A-Za-z0-9._-]+)")


@lru_cache(maxsize=1024)  # a run asks the same few tags for every scenario
def is_priority_tag(tag: str) -> bool:
    found = _PRIORITY.parse(tag.lower())
    return found is not None


@lru_cache(maxsize=1024)
def parse_priority(tag: str) -> int | None:
    found = _PRIORITY.parse(tag.lower())
    return found["level"] if found and 1 <= found["level"] <= 6 else None


def is_revenue_tag(tag: str) -> bool:
    return tag.lower().startswith("mrr:")


def parse_revenue(tag: str) -> float | None:
    """`mrr:120k` → 120000, `mrr:1.5m` → 1500000, `mrr:80000` → 80000; None if not a valid
    revenue tag (not positive, not finite, another unit)."""
    found = _MRR.fullmatch(tag)
    if not found:
        return None
    amount = float(found["amount"]) * _UNITS[found["unit"].lower()]
    return amount if 0 < amount < math.inf else None


def is_owner_tag(tag: str) -> bool:
    return tag.lower().startswith("owner:")


def parse_owner(tag: str) -> str | None:
    """`owner:identity-team` → "identity-team"; None if the name is empty or has other
    characters than letters, digits, `-`, `_` and `.`."""
    found = _OWNER.fullmatch(tag)
    return found["name"] if found else None


def owner_tag(feature_tags: Iterable[str], scenario_tags: Iterable[str]) -> str:
    """The owning team, a scenario's own @owner tag overriding its feature's; "" when none."""
    owner = ""
    for tags in (feature_tags, scenario_tags):
        for tag in tags:
            owner = parse_owner(str(tag)) or owner
    return owner


def business_tags(feature_tags: Iterable[str], scenario_tags: Iterable[str]
                  ) -> tuple[int | None, float | None, str]:
    """Priority, revenue and area, a scenario's own tag overriding its feature's."""
    priority, revenue, area = None, None, ""
    for tags in (feature_tags, scenario_tags):
        for tag in tags:
            priority = parse_priority(tag) or priority
            found = parse_revenue(tag)
            revenue = found if found is not None else revenue
            if tag.lower().startswith("area:"):
                area = tag.split(":", 1)[1]
    return priority, revenue, area


def _own_tag_problem(where: str, tags: list[str]) -> str:
    """What is wrong with one feature's or scenario's own business tags, or ""."""
    priorities = [t for t in tags if is_priority_tag(t)]
    revenues = [t for t in tags if is_revenue_tag(t)]
    for tag in priorities:
        if parse_priority(tag) is None:
            return f"{where} has @{tag}: a priority is @p1 to @p6"
        if tag != tag.lower():  # behave's tags are case-sensitive: --tags=@p1 would skip it
            return (f"{where} has @{tag}: write @{tag.lower()}, or --tags=@{tag.lower()} "
                    "leaves it out")
    if len(priorities) > 1:
        return f"{where} has two priorities, @{priorities[0]} and @{priorities[1]}: give it one"
    for tag in revenues:
        if parse_revenue(tag) is None:
            return (f"{where} has @{tag}: revenue is a positive amount with an optional k or m, "
                    "like @mrr:120k")
    if len(revenues) > 1:
        return f"{where} has two revenue tags, @{revenues[0]} and @{revenues[1]}: give it one"
    owners = [t for t in tags if is_owner_tag(t)]
    for tag in owners:
        if parse_owner(tag) is None:
            return (f"{where} has @{tag}: an owner is a team name of letters, digits, -, _ and ., "
                    "like @owner:identity-team")
    if len(owners) > 1:
        return f"{where} has two owners, @{owners[0]} and @{owners[1]}: give it one"
    return ""


def check_business_tags(features: Iterable[Any]) -> None:
    """Priorities and revenue tags are valid, one of each per feature or scenario, every
    scenario has a priority, and every tier has one revenue; ConfigError naming the feature and
    the tag otherwise."""
    pools: dict[int, tuple[float, str]] = {}
    for feature in features:
        where = f"feature \u201c{feature.name}\u201d ({feature.filename})"
        problem = _own_tag_problem(where, [str(t) for t in feature.tags])
        if problem:
            raise ConfigError(problem)
        for scenario in feature.walk_scenarios():
            own = [str(t) for t in scenario.tags]
            problem = _own_tag_problem(f"scenario \u201c{scenario.name}\u201d in {where}", own)
            if problem:
                raise ConfigError(problem)
            priority, revenue, _ = business_tags(map(str, feature.tags), own)
            if priority is None:  # it would count nowhere, and no --tags=@pN would select it
                raise ConfigError(f"scenario \u201c{scenario.name}\u201d in {where} has no "
                                  "priority: tag the feature (or the scenario) with one of @p1 "
                                  "to @p6")
            if revenue is None:
                continue
            first = pools.setdefault(priority, (revenue, where))
            if first[0] != revenue:
                raise ConfigError(
                    f"{first[1]} and {where} are both P{priority} but count different revenue "
                    f"({first[0]:g} and {revenue:g}): a tier is one revenue pool, give its "
                    "features one @mrr")


def tier_name(priority: int | None) -> str:
    return f"P{priority}" if priority else "unprioritised"


def _pool(name: str, scenarios: Sequence[ScenarioResult],
          pools: dict[str, float]) -> TierImpact:
    """An impact row; `pools` maps each tier present to its revenue, each counted once."""
    # The statuses read directly rather than through ScenarioResult's properties (failed,
    # degraded, unverified): at 10,000 scenarios the calls were most of the roll-up.
    statuses = Counter(s.status for s in scenarios)
    failed_tiers = {tier_name(s.priority) for s in scenarios
                    if s.status in FAILED or s.status == Status.DEGRADED}
    unverified_tiers = {tier_name(s.priority) for s in scenarios
                        if s.status in UNVERIFIED} - failed_tiers
    return TierImpact(
        name=name, revenue=sum((pools[t] for t in {tier_name(s.priority) for s in scenarios}), 0.0),
        scenarios=len(scenarios), passed=statuses[Status.PASSED],
        failed=sum(statuses[status] for status in FAILED),
        unverified=sum(statuses[status] for status in UNVERIFIED),
        at_risk=sum((pools[t] for t in failed_tiers), 0.0),  # dollars are floats, $0 too
        unverified_revenue=sum((pools[t] for t in unverified_tiers), 0.0),
        degraded=statuses[Status.DEGRADED],
        owners=sorted({s.owner for s in scenarios if s.owner}))


def roll_up(scenarios: Sequence[ScenarioResult]) -> Impact:
    pools: dict[str, float] = {}
    for s in scenarios:
        tier = tier_name(s.priority)
        pools[tier] = max(pools.get(tier, 0.0), s.revenue or 0.0)
    in_tier: dict[int | None, list[ScenarioResult]] = {}
    in_area: dict[str, list[ScenarioResult]] = {}
    for s in scenarios:
        in_tier.setdefault(s.priority, []).append(s)
        in_area.setdefault(s.area or "unassigned", []).append(s)
    tiers = sorted(in_tier, key=lambda p: (p is None, p or 0))
    by_priority = [_pool(tier_name(p), in_tier[p], pools) for p in tiers]
    by_area = [_pool(a, in_area[a], pools) for a in sorted(in_area)]
    return Impact(revenue_at_risk=sum((t.at_risk for t in by_priority), 0.0),
                  revenue_unverified=sum((t.unverified_revenue for t in by_priority), 0.0),
                  by_priority=by_priority, by_area=by_area, rule=ROLLUP_RULE)


BLAMED = {Classification.ENVIRONMENT: "the environment", Classification.CONFIGURATION:
          "the configuration", Classification.TEST: "the gate's own defect"}


def blamed(scenarios: Sequence[ScenarioResult]) -> str:
    """Who is at fault for the scenarios not judged, in words: `the environment (2)`."""
    counts = Counter(s.classification for s in scenarios if s.status == Status.NOT_JUDGED)
    return ", ".join(f"{BLAMED.get(c, str(c))}" + (f" ({n})" if len(counts) > 1 else "")
                     for c, n in counts.most_common())


def decide(scenarios: Sequence[ScenarioResult]) -> Verdict:
    """NO-GO: a P1/P2 product failure or an unverified P1. COULD NOT JUDGE: a P1 scenario
    broke for a cause that is not the product's (environment, configuration, the gate's own
    defect). AT RISK: only P3-P6 (or unprioritised) failures, unverified P2+, or a degraded
    scenario (over its soft budget). GO: everything selected passed, but what the run's policy
    left out (said)."""
    if not scenarios:  # a selection that matches nothing is the operator's, not the product's
        return Verdict(Decision.NOT_JUDGED, "no scenario was selected (check --tags and --name "
                                            "against the feature files' tags), so nothing was "
                                            "verified")

    def names(found: list[ScenarioResult]) -> str:
        shown = ", ".join(f"{tier_name(s.priority)} \u201c{s.name}\u201d" for s in found[:3])
        return shown + (f" and {len(found) - 3} more" if len(found) > 3 else "")

    critical = [s for s in scenarios if s.failed and s.priority in (1, 2)]
    if critical:
        return Verdict(Decision.NO_GO, f"{plural(len(critical), 'critical scenario')} failed: "
                                       f"{names(critical)}")
    not_judged_p1 = [s for s in scenarios if s.status == Status.NOT_JUDGED and s.priority == 1]
    if not_judged_p1:
        return Verdict(Decision.NOT_JUDGED, f"{plural(len(not_judged_p1), 'P1 scenario')} could "
                       f"not be judged, for {blamed(not_judged_p1)}: {names(not_judged_p1)}")
    unverified_p1 = [s for s in scenarios if s.unverified and s.priority == 1]
    if unverified_p1:
        return Verdict(Decision.NO_GO, f"{plural(len(unverified_p1), 'P1 scenario')} "
                                f"{'was' if len(unverified_p1) == 1 else 'were'} not verified: "
                                f"{names(unverified_p1)}")
    failed = [s for s in scenarios if s.failed]
    if failed:
        return Verdict(Decision.AT_RISK, f"{plural(len(failed), 'lower-priority scenario')} failed: "
                                  f"{names(failed)}")
    unverified = [s for s in scenarios if s.unverified]
    if unverified:
        cause = blamed(unverified)
        return Verdict(Decision.AT_RISK, f"{plural(len(unverified), 'scenario')} "
                                  f"{'was' if len(unverified) == 1 else 'were'} not verified"
                                  + (f" (not judged, for {cause})" if cause else "")
                                  + f": {names(unverified)}")
    degraded = [s for s in scenarios if s.degraded]
    if degraded:
        return Verdict(Decision.AT_RISK, f"{plural(len(degraded), 'scenario')} degraded, over "
                                  f"{'its' if len(degraded) == 1 else 'their'} soft budget: "
                                  f"{names(degraded)}")
    left_out = [s for s in scenarios if s.status == Status.LEFT_OUT]
    if left_out:
        ran = len(scenarios) - len(left_out)
        return Verdict(Decision.GO, f"all {plural(ran, 'scenario')} that ran passed; "
                                    f"{len(left_out)} left out by policy: {names(left_out)}")
    if len(scenarios) == 1:
        return Verdict(Decision.GO, "the one selected scenario passed")
    return Verdict(Decision.GO, f"all {len(scenarios)} selected scenarios passed")
