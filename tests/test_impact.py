"""Revenue roll-up and verdict rules."""

from __future__ import annotations

import pytest

from stagecheck.errors import ConfigError
from stagecheck.report.impact import (
    business_tags,
    check_business_tags,
    decide,
    owner_tag,
    parse_revenue,
    roll_up,
)
from stagecheck.report.model import ScenarioResult


def scenario(status: str, priority: int | None, revenue: float | None, area: str = "chat",
             name: str = "s") -> ScenarioResult:
    return ScenarioResult(name=name, feature="f", location="f.feature:1", tags=[],
                          priority=priority, revenue=revenue, area=area, status=status,
                          duration_s=0.1)


@pytest.mark.parametrize(("tag", "amount"), [("mrr:120k", 120_000), ("mrr:1.5m", 1_500_000),
                                         ("mrr:80000", 80_000), ("MRR:2K", 2_000),
                                         ("mrr:lots", None), ("mrr:12q", None), ("p1", None)])
def test_revenue_tags(tag: str, amount: float | None) -> None:
    assert parse_revenue(tag) == amount


def test_scenario_tags_override_feature_tags() -> None:
    assert business_tags(["p1", "mrr:120k", "area:agents"], ["p3", "mrr:50k"]) == (3, 50_000, "agents")
    assert business_tags(["p2", "mrr:80k", "area:auth"], []) == (2, 80_000, "auth")
    assert business_tags(["p7", "wip"], []) == (None, None, "")


def test_two_failing_p1_features_put_one_pool_at_risk() -> None:
    impact = roll_up([scenario("failed", 1, 120_000, "agents"), scenario("failed", 1, 120_000, "chat"),
                      scenario("passed", 1, 120_000)])
    assert impact.revenue_at_risk == 120_000
    assert {a.name: a.at_risk for a in impact.by_area} == {"agents": 120_000, "chat": 120_000}


def test_failures_in_p1_and_p2_add_their_pools() -> None:
    impact = roll_up([scenario("failed", 1, 120_000), scenario("error", 2, 80_000),
                      scenario("passed", 3, 50_000)])
    assert impact.revenue_at_risk == 200_000 and impact.revenue_unverified == 0


def test_unverified_counts_tiers_not_already_at_risk() -> None:
    impact = roll_up([scenario("failed", 1, 120_000), scenario("untested", 1, 120_000),
                      scenario("untested", 2, 80_000), scenario("skipped", 3, 50_000),
                      scenario("passed", 4, 30_000)])
    assert impact.revenue_at_risk == 120_000
    assert impact.revenue_unverified == 130_000
    assert [t.name for t in impact.by_priority] == ["P1", "P2", "P3", "P4"]


@pytest.mark.parametrize(("statuses", "decision"), [
    ([("passed", 1), ("passed", 3)], "GO"),
    ([("failed", 1), ("passed", 3)], "NO-GO"),
    ([("error", 2), ("passed", 1)], "NO-GO"),
    ([("passed", 1), ("untested", 1)], "NO-GO"),
    ([("passed", 1), ("failed", 3)], "AT RISK"),
    ([("passed", 1), ("untested", 2)], "AT RISK"),
    ([("passed", 1), ("failed", None)], "AT RISK"),
    ([], "COULD NOT JUDGE"),  # nothing selected: the operator's selection, not the product
])
def test_verdict(statuses, decision: str) -> None:
    verdict = decide([scenario(status, p, None) for status, p in statuses])
    assert verdict.decision == decision and verdict.reason


def test_degraded_is_at_risk_for_its_tier_never_go() -> None:
    scenarios = [scenario("passed", 1, 120_000), scenario("degraded", 4, 30_000, name="welcome")]
    verdict = decide(scenarios)
    assert verdict.decision == "AT RISK" and "degraded" in verdict.reason and "welcome" in verdict.reason
    impact = roll_up(scenarios)
    assert impact.revenue_at_risk == 30_000
    p4 = next(t for t in impact.by_priority if t.name == "P4")
    assert (p4.degraded, p4.failed, p4.passed) == (1, 0, 0)


def test_degraded_is_neither_failed_nor_unverified() -> None:
    found = scenario("degraded", 4, 30_000)
    assert not found.failed and not found.unverified and found.degraded


def test_a_p3_failure_and_untested_p2_scenarios_count_both_pools() -> None:
    scenarios = [scenario("passed", 1, 120_000), scenario("failed", 3, 50_000),
                 scenario("untested", 2, 80_000), scenario("untested", 2, 80_000)]
    impact = roll_up(scenarios)
    assert impact.revenue_at_risk == 50_000 and impact.revenue_unverified == 80_000
    assert decide(scenarios).decision == "AT RISK"


@pytest.mark.parametrize(("tags", "owner"), [
    ((["p2", "owner:identity-team"], []), "identity-team"),
    ((["owner:identity-team"], ["owner:agents_team.v2"]), "agents_team.v2"),
    ((["p1"], []), ""),
])
def test_owner_tags(tags, owner: str) -> None:
    assert owner_tag(*tags) == owner


class _Feature:
    def __init__(self, tags: list[str], scenario_tags: list[str] | None = None) -> None:
        self.name, self.filename, self.tags = "F", "f.feature", tags
        self._scenario = type("S", (), {"name": "S", "tags": scenario_tags or []})()

    def walk_scenarios(self):
        return [self._scenario]


@pytest.mark.parametrize(("tags", "message"), [
    (["p2", "mrr:80k", "owner:a", "owner:b"], "two owners, @owner:a and @owner:b"),
    (["p2", "mrr:80k", "owner:"], "an owner is a team name"),
    (["p2", "mrr:80k", "owner:team/x"], "an owner is a team name"),
])
def test_bad_owner_tags_are_refused_naming_the_feature(tags: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_business_tags([_Feature(tags)])


def test_one_owner_per_feature_is_accepted() -> None:
    check_business_tags([_Feature(["p2", "mrr:80k", "owner:identity-team"])])


def test_a_scenario_without_a_priority_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"scenario “S” in feature “F” \(f.feature\) has no "
                                          r"priority: tag the feature \(or the scenario\)"):
        check_business_tags([_Feature(["mrr:80k", "area:chat"])])
    check_business_tags([_Feature(["mrr:80k"], ["p2"])])  # the scenario's own priority counts


def test_revenue_figures_are_floats_even_when_nothing_is_at_risk() -> None:
    """verdict.json said 120000.0 for one run and 0 for another: one type for every amount."""
    passed = roll_up([scenario("passed", 1, 120_000)])
    assert all(type(value) is float for value in (
        passed.revenue_at_risk, passed.revenue_unverified, *(
            figure for tier in passed.by_priority
            for figure in (tier.revenue, tier.at_risk, tier.unverified_revenue))))
    assert type(roll_up([]).revenue_at_risk) is float
