"""The report without contradictions: one pass rate, not reached apart from failed, durations and
counts as people read them, a rollup and plain words per capability, catalog Markdown in HTML."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from stagecheck.outputs.reports import write_reports
from stagecheck.report.capabilities import capabilities, load_table
from stagecheck.report.diagnosis import diagnose
from stagecheck.report.impact import decide, roll_up
from stagecheck.report.model import (
    RESULTS_SCHEMA_VERSION,
    Changes,
    HealthProbe,
    NextStep,
    RunFacts,
    RunResult,
    ScenarioResult,
    TrendPoint,
)
from stagecheck.report.render import render, render_summary
from stagecheck.report.view import fail_fast, report_view, run_span, when
from stagecheck.vocabulary import Status
from stagecheck.wording import duration, plural

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = HealthProbe("http://127.0.0.1:8000/health", 200, 0.0004, '{"status": "healthy"}', True)
# The seed day's shape: sessions pass, discovery fails, --stop leaves the rest not reached.
SEED = [("Live sessions", "chat", "passed")] * 6 + [("Agent discovery", "agents", "failed")] + [
    ("Sign-in for release checks", "auth", "untested")] * 2 + [
    ("Platform health", "platform", "untested")] * 2 + [("Agent runs", "agents", "untested")] + [
    ("Conversations", "chat", "untested")] * 2


def seed_day(with_capabilities: bool = True) -> RunResult:
    scenarios = [ScenarioResult(name=f"{feature} {i}", feature=feature, location=f"f.feature:{i}",
                                tags=[], priority=1, revenue=120_000, area=area, status=status,
                                duration_s=0.0004 if status == "passed" else 0.0,
                                key_finding="welcomed in under 1 ms" if status == "passed" else "")
                 for i, (feature, area, status) in enumerate(SEED)]
    facts = RunFacts("r1", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:05+00:00", 5.0, "local",
                     "http://127.0.0.1:8000", "http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws",
                     "1.0.0", "@p1", True, False, [], False,
                     {"python": "3", "stagecheck": "0", "behave": "1.3"})
    found = capabilities((s.feature, s.area, "") for s in scenarios) if with_capabilities else []
    return RunResult(RESULTS_SCHEMA_VERSION, facts, scenarios, roll_up(scenarios), decide(scenarios),
                     diagnose(scenarios, HEALTHY, None, {"rerun": "behave --tags=@p1"}),
                     capabilities=found)


def test_one_pass_rate_passed_out_of_selected_in_the_card_the_bars_and_the_text() -> None:
    result = seed_day()
    view = report_view(result)
    assert view["pass_rate"] == "43%"
    assert view["priority_bars"][0].summary == "43% · 6 of 14 passed · 1 failed · 7 not reached"
    page, markdown = render(result, "html"), render(result, "md")
    assert 'id="pass-rate">43%</b>' in page and "86%" not in page and "86%" not in markdown
    assert "**Pass rate:** 43% (6 of 14 selected)" in markdown
    assert view["pass_rate_rule"] in page and view["pass_rate_rule"] in markdown


def test_an_area_only_not_reached_is_not_drawn_or_told_as_failed() -> None:
    view = report_view(seed_day())
    auth = next(b for b in view["area_bars"] if b.label == "auth")
    assert (auth.passed_pct, auth.failed_pct, auth.not_run_pct) == (0, 0, 100)
    assert auth.summary == "0 of 2 passed · 2 not reached"  # no bare "0%" read as broken
    agents = next(b for b in view["area_bars"] if b.label == "agents")
    assert (agents.failed_pct, agents.not_run_pct) == (50, 50)
    markdown = render(seed_day(), "md")
    assert "| auth | 2 | 0 | 0 | 2 | $0 | 0 of 2 passed · 2 not reached |" in markdown


@pytest.mark.parametrize(("seconds", "shown"), [(0.0, "under 1 ms"), (0.0004, "under 1 ms"), (0.011, "11 ms"),
                                                (0.9994, "999 ms"), (1.234, "1.23 s"), (12.34, "12.3 s")])
def test_durations_read_as_people_read_them(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_a_scenario_that_did_not_run_has_a_blank_duration_and_a_quick_one_reads_below_1_ms() -> None:
    markdown = render(seed_day(), "md")
    results = [line for line in markdown.splitlines() if line.startswith("| Conversations 1")
               and "| P1 |" in line]
    quality = [line for line in markdown.splitlines() if line.startswith("| Conversations 1")
               and "| P1 |" not in line]
    assert len(results) == 2 and all("| NOT REACHED |  |" in row for row in results)
    assert len(quality) == 2 and all(row.endswith("| 0 | 0 |  |") for row in quality)
    assert "0.000 s" not in markdown and "0.00 s" not in markdown
    assert "| PASS | under 1 ms | welcomed in under 1 ms |" in markdown
    assert "status 200 in under 1 ms" in markdown


def test_counts_have_real_plurals() -> None:
    assert [plural(n, "scenario") for n in (0, 1, 2)] == ["0 scenarios", "1 scenario", "2 scenarios"]
    assert decide(seed_day().scenarios).reason.startswith("1 critical scenario failed: ")
    assert "(s)" not in render(seed_day(), "md") and "(s)" not in render(seed_day(), "html")


def test_each_capability_is_rolled_up_and_a_failing_one_says_what_users_cannot_do() -> None:
    result = seed_day()
    view = report_view(result)
    rows = {c.name: c for c in view["capabilities"]}
    assert rows["Live sessions"].rollup == "6/6" and rows["Agent discovery"].rollup == "0/1"
    assert rows["Agent discovery"].words == "Users cannot find or run any AI agent."
    assert rows["Platform health"].words.startswith("Not verified whether monitoring")
    assert view["plain_impact"] == [
        "Users can connect and chat in live sessions, but cannot find or run any AI agent."]
    markdown = render(result, "md")
    assert "| Live sessions | 6/6 | PASS (6 of 6 passed) | Users can connect and chat" in markdown


def test_results_saved_without_capabilities_still_roll_up_by_feature() -> None:
    view = report_view(seed_day(with_capabilities=False))
    assert [(c.name, c.rollup) for c in view["capabilities"]][:2] == [
        ("Live sessions", "6/6"), ("Agent discovery", "0/1")]
    assert view["plain_impact"] == []


def test_every_feature_has_its_plain_words() -> None:
    names = {m for path in (ROOT / "features").glob("*.feature")
             for m in re.findall(r"^Feature: (.+)$", path.read_text(), re.MULTILINE)}
    table = load_table()
    assert names <= set(table), f"no entry in capabilities.toml for {sorted(names - set(table))}"
    assert all(entry["can"] and entry["cannot"] for entry in table.values())


def test_catalog_markdown_is_rendered_in_html_and_stays_inert() -> None:
    result = seed_day()
    hostile = "Run `alembic upgrade head` <img src=x onerror=alert(1)> [here](javascript:alert(1)) *now*"
    result.diagnosis = replace(result.diagnosis, root_cause="Missing `mcp_external_servers`.",
                               next_steps=[NextStep("Apply `migrations`", [hostile], "`it` is **due**")])
    page = render(result, "html")
    root = re.search(r'<p id="root-cause">(.*?)</p>', page, re.S)
    steps = re.search(r'<ol id="next-steps">(.*?)</ol>', page, re.S)
    assert root and steps
    assert root.group(1) == "Missing <code>mcp_external_servers</code>."
    assert "`" not in steps.group(1) and "<code>alembic upgrade head</code>" in steps.group(1)
    assert "<strong>due</strong>" in steps.group(1) and "<em>now</em>" in steps.group(1)
    assert "<img" not in page and "&lt;img src=x" in page
    assert "<a " not in page  # no catalog to link to: no link at all, none from the Markdown
    # With a catalog, the only links are each scenario's to its entry: none from the Markdown.
    links = re.findall(r"<a [^>]*>", render(result, "html", "../catalog.html"))
    assert len(links) == len(result.scenarios)
    assert all(re.fullmatch(r'<a href="\.\./catalog\.html#[a-z0-9-]+--[a-z0-9-]+" title="[^"]*">', link)
               for link in links), links


def test_the_report_links_the_catalog_only_where_there_is_one(tmp_path: Path) -> None:
    result = seed_day()
    alone = write_reports(result, tmp_path / "alone") / "report.html"
    assert "<a " not in alone.read_text()  # nothing beside it: plain names, no dead link
    (tmp_path / "beside").mkdir()
    (tmp_path / "beside" / "catalog.html").write_text("<html></html>")
    beside = write_reports(result, tmp_path / "beside") / "report.html"
    assert beside.read_text().count('href="../catalog.html#') == len(result.scenarios)
    served = write_reports(result, tmp_path / "served", catalog_url="/runs/catalog.html")
    assert (served / "report.html").read_text().count('href="/runs/catalog.html#') == 14


@pytest.mark.parametrize(("stamp", "shown"), [
    ("2026-12-05T23:04:13+00:00", "5 Dec 2026, 23:04 UTC"),
    ("2026-12-05T23:04:13+02:00", "5 Dec 2026, 23:04 UTC+02:00"),
    ("not a time", "not a time"),
])
def test_dates_read_as_people_read_them_with_their_zone(stamp: str, shown: str) -> None:
    assert when(stamp) == shown


def test_the_report_and_the_trend_axis_show_human_dates_never_iso_timestamps() -> None:
    result = seed_day()
    result = replace(result, facts=replace(result.facts, started_at="2026-12-05T23:04:13+00:00",
                                           finished_at="2026-12-05T23:06:01+00:00"),
                     changes=Changes(previous_run_id="r0", trend=[
                         TrendPoint("r0", "2026-12-04T09:30:00+00:00", 1.0, 0.0, "GO"),
                         TrendPoint("r1", "2026-12-05T23:04:13+00:00", 0.43, 120_000.0, "NO-GO")]))
    page, markdown = render(result, "html"), render(result, "md")
    assert "5 Dec 2026, 23:04 → 23:06 UTC" in page and "5 Dec 2026, 23:04 → 23:06 UTC" in markdown
    assert '<span class="when">4 Dec 2026, 09:30 UTC</span>' in page
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d", re.sub(r'datetime="[^"]*"', "", page) + markdown)
    assert run_span("2026-12-05T23:59:00+00:00", "2026-12-06T00:01:00+00:00") == \
        "5 Dec 2026, 23:59 UTC → 6 Dec 2026, 00:01 UTC"


def _stop_run(statuses: list[str], interrupted: bool = False) -> RunResult:
    result = seed_day()
    scenarios = [replace(s, status=Status(status)) for s, status in zip(result.scenarios, statuses,
                                                                         strict=False)]
    return replace(result, scenarios=scenarios[:len(statuses)],
                   facts=replace(result.facts, stop_on_failure=True, interrupted=interrupted))


@pytest.mark.parametrize(("statuses", "interrupted", "said"), [
    (["passed", "passed"], False, "on: nothing failed, so every selected scenario ran"),
    (["passed", "skipped", "passed"], False, "on: nothing failed, so every selected scenario ran"),
    (["passed", "failed"], False, "on: the first failure came last, so every selected scenario ran"),
    (["passed", "failed", "untested", "untested"], False,
     "on: the run stopped at the first failure (“Live sessions 1”), so 2 later scenarios were "
     "not reached"),
    (["passed", "untested"], True, "on: the run was interrupted before it finished"),
], ids=["go", "go-with-a-skip", "failure-last", "stopped", "interrupted"])
def test_fail_fast_says_what_stop_did_and_a_go_never_says_it_stopped(
        statuses: list[str], interrupted: bool, said: str) -> None:
    result = _stop_run(statuses, interrupted)
    assert fail_fast(result) == said
    assert f"Fail-fast (`--stop`): {said}" in render(result, "md")
    assert f"Fail-fast (--stop): {said}" in render(result, "html").replace("&#34;", '"')
    assert fail_fast(replace(result, facts=replace(result.facts, stop_on_failure=False))) == "off"


def test_a_run_without_tags_shows_no_empty_code_box() -> None:
    result = seed_day()
    result = replace(result, facts=replace(result.facts, tag_expression=""))
    page, markdown = render(result, "html"), render(result, "md") + render_summary(result)
    assert not re.search(r"<(code|pre)>\s*</\1>", page) and not re.search(r"(?<!`)``(?!`)", markdown)
    assert "no --tags (every scenario but the load tier)" in page \
        and "**Selection:** no --tags (every scenario but the load tier)" \
        in markdown
    nothing = replace(result, scenarios=[], impact=roll_up([]), verdict=decide([]))
    page, markdown = render(nothing, "html"), render(nothing, "md")
    assert "<tbody></tbody>" not in re.sub(r"\s+", "", page)  # no empty table on the page
    assert "<p>No scenario was selected.</p>" in page and "No scenario was selected." in markdown
