"""The living catalog for product review: every scenario of every tier with the faults that prove
its Then steps, statuses from the history, what changed since a git ref, business language, and
the page as a reader sees it in a real browser."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from behave.parser import parse_file

from stagecheck.catalog.build import NO_HISTORY, Catalog, ReviewKind, build_catalog
from stagecheck.catalog.changes import ChangeKind
from stagecheck.catalog.glossary import jargon
from stagecheck.catalog.proofs import load_proofs
from stagecheck.catalog.render import render_catalog
from stagecheck.cli import main
from stagecheck.history.store import History
from stagecheck.report.impact import decide, roll_up
from stagecheck.report.model import (
    RESULTS_SCHEMA_VERSION,
    Diagnosis,
    RunFacts,
    RunResult,
    ScenarioResult,
    scenario_anchor,
)
from tests.behave_run import ROOT

FEATURES = ROOT / "features"
WELCOMED = ("Live sessions", "A signed-in user opens a live session and is welcomed")
PING = ("Live sessions", "A live session answers a ping")
DISCOVERY = ("Agent discovery", "A user discovers the available agent servers")


def behave_scenarios() -> set[tuple[str, str]]:
    """(feature, scenario) as behave's own parser reads the checkout, outlines expanded."""
    return {(feature.name, scenario.name.split(" -- @")[0])
            for path in FEATURES.glob("*.feature")
            for feature in [parse_file(str(path))] for scenario in feature.walk_scenarios()}


def test_the_catalog_lists_every_scenario_of_every_tier_with_the_faults_proving_its_then_steps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--features", str(FEATURES), "-o", str(tmp_path)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("catalog: 44 scenarios in 12 features, 53 of 53 Then steps proven")
    data = json.loads((tmp_path / "catalog.json").read_text())
    entries = [e for c in data["capabilities"] for e in c["entries"]]
    assert {(e["scenario"]["feature"], e["scenario"]["name"]) for e in entries} == behave_scenarios()
    assert {e["scenario"]["tier"] for e in entries} == {1, 2, 3, 4, 5, 6}
    proofs = load_proofs()
    for entry in entries:
        scenario = entry["scenario"]
        for step in scenario["steps"]:
            if step["step_type"] == "then":
                assert step["faults"], (scenario["name"], step["text"])
                assert step["faults"] == proofs.proving(scenario["name"], step["text"])
        assert entry["status"] == NO_HISTORY  # no history beside the output
    page, markdown = (tmp_path / "catalog.html").read_text(), (tmp_path / "catalog.md").read_text()
    for feature, name in behave_scenarios():
        assert f'id="{scenario_anchor(feature, name)}"' in page
        assert f"#### {name}" in markdown
    assert "<script src" not in page and "<link" not in page and "http" not in page  # offline
    # The planted phrase of each kind: protocol words are not proven steps.
    agent_run = next(e for e in entries if e["scenario"]["name"].startswith("A user's request"))
    events = next(s for s in agent_run["scenario"]["steps"] if s["text"].endswith("in this order:"))
    assert "agent-skips-tool-events" in events["faults"] and events["table"]["rows"][0] == ["started"]
    assert data["review"] == [] and data["counts"]["destructive"] == 11


def _result(run_id: str, started_at: str, statuses: dict[tuple[str, str], str]) -> RunResult:
    scenarios = [ScenarioResult(name=name, feature=feature, location="f.feature:1", tags=[],
                                priority=1, revenue=120_000, area="chat", status=status,  # type: ignore[arg-type]
                                duration_s=0.5 + n)
                 for n, ((feature, name), status) in enumerate(statuses.items())]
    facts = RunFacts(run_id, started_at, started_at, 1.0, "local", "http://127.0.0.1:1",
                     "http://127.0.0.1:1", "ws://127.0.0.1:1/ws", "1.0", "@p1", False, False, [],
                     False, {"python": "3", "stagecheck": "0", "behave": "1.3"})
    return RunResult(RESULTS_SCHEMA_VERSION, facts, scenarios, roll_up(scenarios),
                     decide(scenarios), Diagnosis(None, None, "", []))


def history_of_three_runs(path: Path) -> Path:
    """Three runs through the history's own API: the welcome flips (flaky), the ping never
    passes, discovery passes every time."""
    history = History(path)
    for n, (welcomed, ping) in enumerate([("passed", "failed"), ("failed", "failed"),
                                          ("passed", "failed")], 1):
        history.finish(_result(f"r{n}", f"2026-12-0{n}T10:00:00+00:00",
                               {WELCOMED: welcomed, PING: ping, DISCOVERY: "passed"}), "local")
    history.close()
    return path


def test_given_a_history_each_scenario_shows_its_status_trend_flips_and_median(tmp_path: Path) -> None:
    history = history_of_three_runs(tmp_path / "history.sqlite")
    catalog = build_catalog(FEATURES, history, not_passed_runs=3)
    by_name = {e.scenario.name: e for e in catalog.entries()}
    welcomed, ping, discovery = by_name[WELCOMED[1]], by_name[PING[1]], by_name[DISCOVERY[1]]
    assert welcomed.status == "passed" and welcomed.standing is not None
    assert welcomed.standing.trend == ["passed", "failed", "passed"]  # newest first
    assert welcomed.standing.flaky and welcomed.standing.flips == 2
    assert welcomed.standing.last_passed_at == "2026-12-03T10:00:00+00:00"
    assert welcomed.standing.median_s == 0.5
    assert ping.status == "failed" and ping.standing is not None
    assert ping.standing.last_passed_at == "" and ping.standing.runs_without_pass == 3
    assert discovery.status == "passed" and not discovery.standing.flaky  # type: ignore[union-attr]
    assert by_name["A test user signs in through the staging sign-in bypass"].status == "not run"
    p1 = catalog.pools[0]
    assert (p1.name, p1.scenarios, p1.passed_last_run) == ("P1", 15, 2)
    assert PING[1] in p1.not_verified and WELCOMED[1] not in p1.not_verified
    not_passed = {i.subject for i in catalog.review if i.kind == ReviewKind.NOT_PASSED}
    assert not_passed == {PING[1]}  # ran and never passed; the ones not run are not verified
    page = render_catalog(catalog, "html")
    assert re.search(rf'id="{scenario_anchor(*PING)}"[^>]*data-status="failed"', page)
    def standing(key: tuple[str, str]) -> str:
        found = re.search(rf'id="{scenario_anchor(*key)}".*?<p class="standing[^>]*>(.*?)</p>', page, re.S)
        assert found
        return re.sub(r"<[^>]+>", "", found.group(1))

    assert standing(PING) == "failed ✗✗✗ · last failed 3 Dec 2026, 10:00 UTC · not passed in the recent runs"
    assert standing(WELCOMED) == ("passed ✓✗✓ · last passed 3 Dec 2026, 10:00 UTC · median 500 ms · "
                                  "flaky: 2 flips")
    assert "2 of 15 passed in the last run" in render_catalog(catalog, "md")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, timeout=30)


def test_since_a_tag_lists_exactly_the_planted_rewording_tier_move_and_new_owner(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FEATURES, repo / "features", ignore=shutil.ignore_patterns("steps", "*.py"))
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "v1.2")
    _git(repo, "tag", "v1.2")
    health = repo / "features" / "platform_health.feature"
    health.write_text(health.read_text().replace(
        "  Scenario: The backend reports its database connected",
        "  @p2 @mrr:80k\n  Scenario: The backend reports its database connected"))
    sign_in = repo / "features" / "sign_in.feature"
    sign_in.write_text(sign_in.read_text().replace(
        "Then the sign-in is refused", "Then the sign-in is refused and nothing is let in").replace(
        "  Scenario: A test user signs in through the staging sign-in bypass",
        "  @owner:release-team\n  Scenario: A test user signs in through the staging sign-in bypass"))
    _git(repo, "commit", "-qam", "planted")
    catalog = build_catalog(repo / "features", since="v1.2")
    assert {(c.kind, c.scenario, c.before, c.after) for c in catalog.changes} == {
        (ChangeKind.REWORDED, "A sign-in with a wrong bypass key is refused",
         "Then the sign-in is refused", "Then the sign-in is refused and nothing is let in"),
        (ChangeKind.RETIERED, "The backend reports its database connected",
         "P1 ($120K MRR)", "P2 ($80K MRR)"),
        (ChangeKind.REOWNED, "A test user signs in through the staging sign-in bypass",
         "identity-team", "release-team")}
    # The reworded step is now one no fault proves: the review list says so.
    assert [(i.kind, i.subject) for i in catalog.review] == [
        (ReviewKind.UNPROVEN_STEP, "A sign-in with a wrong bypass key is refused")]
    assert main(["catalog", "--features", str(repo / "features"), "--since", "v9",
                 "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"stagecheck catalog: 'v9' names no commit or tag in {repo.resolve()}")


# What the feature files said before issue 22 (item 7), one phrase of each kind.
JARGON = {"the user sees | agent_started |": "a protocol identifier",
          'a forged token and the header "X-E2E-Test: true"': "a header name",
          "the p95 of welcome time is under 1 second": "statistics jargon",
          "Locust plays the users; `-D load_scale=0.1` runs a tenth": "a command option",
          "within the soft budget of 1 seconds": "a wrong plural",
          "with the user's refresh token": "a protocol term"}


@pytest.mark.parametrize(("text", "what"), JARGON.items(), ids=list(JARGON.values()))
def test_the_glossary_catches_each_kind_of_word_that_came_out(text: str, what: str) -> None:
    assert what in {found.what for found in jargon(text)}


def test_the_feature_files_read_as_business_language() -> None:
    # Every feature's words, and every scenario's as behave runs it (Examples filled in).
    catalog = build_catalog(FEATURES)
    assert [i for i in catalog.review if i.kind == ReviewKind.JARGON] == []
    assert jargon("200 signed-in users arriving at 50 per second within 0.5 seconds") == []


FILTERS = """(async () => {
  const visible = () => [...document.querySelectorAll("article.scenario")]
    .filter((a) => a.offsetParent !== null).length;
  const choose = (id, value) => { const el = document.getElementById(id); el.value = value;
    el.dispatchEvent(new Event(id === "filter-text" ? "input" : "change")); };
  const sizes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement, box = el.getBoundingClientRect();
    if (node.textContent.trim() && box.width > 0 && el.tagName !== "SCRIPT")
      sizes.push(parseFloat(getComputedStyle(el).fontSize));
  }
  const found = {all: visible(), anchors: [...document.querySelectorAll("article.scenario")].map((a) => a.id),
                 smallest: Math.min(...sizes), overflow: document.documentElement.scrollWidth - innerWidth};
  choose("filter-tier", "P2"); found.p2 = visible();
  found.shown = document.getElementById("shown").textContent;
  choose("filter-tier", ""); choose("filter-owner", "chat-team"); found.chat = visible();
  choose("filter-owner", ""); choose("filter-status", "failed"); found.failed = visible();
  choose("filter-status", ""); choose("filter-area", "auth"); found.auth = visible();
  choose("filter-area", ""); choose("filter-text", "emoji"); found.emoji = visible();
  choose("filter-text", "no such words"); found.none = visible();
  found.sections = [...document.querySelectorAll("section.capability")].filter((s) => !s.hidden).length;
  choose("filter-text", ""); found.back = visible();
  return found;
})()"""


async def _look(browser: str, page: Path, folder: Path) -> dict[int, dict]:
    from tests.devtools import chromium

    found = {}
    async with chromium(browser, folder / "profile") as tab:
        for width in (390, 1280):
            await tab.open(page.resolve().as_uri(), width)
            answer = await tab.send("Runtime.evaluate", expression=FILTERS, awaitPromise=True,
                                    returnByValue=True)
            found[width] = answer["result"]["value"]
            await tab.open(page.resolve().as_uri(), width)  # the page as it opens, unfiltered
            found[width]["screenshot"] = str(await tab.screenshot(folder / f"catalog-{width}px.png"))
    return found


def test_the_page_in_a_real_browser_filters_and_reads_on_a_phone(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed, and CI must run the browser test")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    catalog: Catalog = build_catalog(FEATURES, history_of_three_runs(tmp_path / "h.sqlite"),
                                     not_passed_runs=3)
    page = tmp_path / "catalog.html"
    page.write_text(render_catalog(catalog, "html"))
    found = asyncio.run(asyncio.wait_for(_look(browser, page, tmp_path), timeout=120))
    anchors = {scenario_anchor(feature, name) for feature, name in behave_scenarios()}
    for width, seen in found.items():
        size = Path(seen["screenshot"]).stat().st_size
        print(f"{width}px: smallest text {seen['smallest']} px, screenshot {seen['screenshot']} "
              f"{size} bytes")
        assert set(seen["anchors"]) == anchors and seen["all"] == 44
        assert (seen["p2"], seen["shown"]) == (8, "8 of 44 scenarios shown")
        assert (seen["chat"], seen["auth"], seen["failed"]) == (15, 10, 1)
        assert (seen["emoji"], seen["none"], seen["sections"], seen["back"]) == (1, 0, 0, 44)
        assert seen["smallest"] >= 13 and seen["overflow"] <= 0
        assert size > 10_000
