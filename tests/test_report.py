"""The report end to end: the seed incident and a clean run, rendered again, opened in Chromium,
and hostile content kept inert."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from stagecheck.report.model import Changes, RunResult, TrendPoint
from stagecheck.report.render import render
from tests.behave_run import run_behave

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def seed_incident(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seed")
    run = run_behave(folder, "--tags=@p1", "--stop", "-D", "standin_fault=missing-mcp-tables",
                     "-D", f"report_dir={folder / 'reports'}")
    assert run.returncode != 0
    # behave's summary counts the selection only: the 7 P1 scenarios after the stop are
    # "untested", the 29 others (not selected) are not counted at all.
    assert ("1 feature passed, 1 failed, 0 skipped, 4 untested\n"
            "7 scenarios passed, 1 failed, 0 skipped, 7 untested\n") in run.stdout
    assert ("Release gate: NO-GO · 1 critical scenario failed: P1 “A user discovers the "
            "available agent servers” · revenue at risk $120K") in run.stdout
    return folder / "reports" / "latest"


def results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def test_seed_incident_is_no_go_with_120k_at_risk_and_the_rest_unverified(seed_incident: Path) -> None:
    data = results(seed_incident)
    assert data["schema_version"] == 1
    assert data["verdict"]["decision"] == "NO-GO"
    assert data["impact"]["revenue_at_risk"] == 120_000
    statuses = {s["name"]: s["status"] for s in data["scenarios"]}
    assert len(statuses) == 15 and list(statuses.values()).count("passed") == 7
    assert list(statuses.values()).count("untested") == 7
    discovery = next(s for s in data["scenarios"] if s["status"] == "failed")
    assert discovery["name"] == "A user discovers the available agent servers"
    assert discovery["key_finding"] == "500 Internal Server Error on GET /api/mcp/servers"
    assert discovery["classification"] == "product defect"
    assert any(e["status"] == 500 and e["url"].endswith("/api/mcp/servers")
               for e in discovery["exchanges"])
    assert data["facts"]["stop_on_failure"] is True and data["facts"]["tag_expression"] == "@p1"
    assert data["facts"]["target_version"] == "1.0.0"


def test_seed_incident_probe_names_the_table_and_the_next_step_the_migration(seed_incident: Path) -> None:
    diagnosis = results(seed_incident)["diagnosis"]
    assert "mcp_external_servers" in diagnosis["schema"]["missing_tables"]
    assert diagnosis["schema"]["revisions_behind"] == 1
    assert "`mcp_external_servers`" in diagnosis["root_cause"]
    first = diagnosis["next_steps"][0]
    actions = " ".join(first["actions"])
    assert "alembic upgrade head" in actions and "Restart the backend" in actions
    assert "behave --tags=@p1" in actions
    report = (seed_incident / "report.md").read_text()
    for section in ("## Executive summary", "## Results", "## Infrastructure status",
                    "## Failure analysis", "## Root cause", "## Next steps", "## Business impact",
                    "## Test quality"):
        assert section in report
    assert "curl -sS -i http://127.0.0.1:" in report


def test_clean_run_is_go_with_nothing_at_risk(tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", f"report_dir={tmp_path / 'reports'}")
    data = results(tmp_path / "reports" / "latest")
    assert run.returncode == 0
    assert data["verdict"]["decision"] == "GO"
    assert data["impact"]["revenue_at_risk"] == 0 and data["impact"]["revenue_unverified"] == 0
    assert all(s["status"] == "passed" and s["exchanges"] and s["assertions"]
               for s in data["scenarios"])
    assert data["diagnosis"]["next_steps"] == []



def test_seed_incident_report_reads_without_contradictions(seed_incident: Path) -> None:
    report, page = (seed_incident / "report.md").read_text(), (seed_incident / "report.html").read_text()
    assert "**Users can connect and chat in live sessions, but cannot find or run any AI agent.**" in report
    assert "| Live sessions | 7/7 |" in report and "| Agent discovery | 0/1 |" in report
    assert "**Pass rate:** 47% (7 of 15 selected)" in report and 'id="pass-rate">47%</b>' in page
    assert "1 critical scenario failed" in report and "(s)" not in report
    assert "0.000 s" not in report and "0.00 s" not in report
    assert "FROM sqlite_master" in report and "information_schema" not in report  # a SQLite stand-in
    root_cause = page.split('<p id="root-cause">', 1)[1].split("</p>", 1)[0]
    assert "<code>mcp_external_servers</code>" in root_cause and "`" not in root_cause


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_report_renders_again_from_saved_results(seed_incident: Path, fmt: str) -> None:
    saved = {"md": "report.md", "html": "report.html", "json": "results.json"}[fmt]
    again = subprocess.run([sys.executable, "-m", "stagecheck.report",
                            str(seed_incident / "results.json"), "--format", fmt],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert again.stdout == (seed_incident / saved).read_text()


def test_rerender_of_a_file_that_is_not_results_fails_in_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "results.json"
    bogus.write_text('{"schema_version": 99}')
    again = subprocess.run([sys.executable, "-m", "stagecheck.report", str(bogus)],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert again.returncode == 2
    assert "schema version 99" in again.stderr and len(again.stderr.strip().splitlines()) == 1


HOSTILE = '<script>alert(1)</script> {{ 7*7 }} {% if 1 %}x{% endif %} | `'


def test_hostile_text_from_the_target_is_inert(seed_incident: Path) -> None:
    result = RunResult.from_json((seed_incident / "results.json").read_text())
    bad = replace(result.scenarios[6], name=HOSTILE, key_finding=HOSTILE, error_message=HOSTILE)
    bad.exchanges = [dict(bad.exchanges[-1], response=HOSTILE, url="http://h/" + HOSTILE)]
    bad.steps = [replace(step, error_message=HOSTILE) for step in bad.steps]
    result.scenarios[6] = bad
    page, markdown = render(result, "html"), render(result, "md")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "{{ 7*7 }}" in page and "{% if 1 %}x{% endif %}" in page  # shown, never evaluated
    outside_fences = "".join(part for i, part in enumerate(markdown.split("```")) if i % 2 == 0)
    assert "<script>" not in outside_fences and "{{" not in outside_fences
    assert "\\| \\`" in outside_fences  # table pipes and backticks escaped, not live


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_html_shows_the_verdict_in_a_real_browser(seed_incident: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed, and CI must run the browser test")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (seed_incident / "report.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    assert 'id="verdict">NO-GO</span>' in dom
    assert 'id="at-risk">$120K</b>' in dom
    assert "<script" not in dom.lower()


# Font sizes as rendered: an SVG text's computed size scaled by its screen transform, so that a
# chart drawn in a viewBox is measured at the size the reader sees.
MEASURE = """(() => {
  const rendered = (el) => {
    let size = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement && el.getScreenCTM()) size *= el.getScreenCTM().a;
    return Math.round(size * 100) / 100;
  };
  const texts = (root, skip) => {
    const found = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!node.textContent.trim() || (skip && el.closest(skip))) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      found.push({text: node.textContent.trim().slice(0, 30), size: rendered(el),
                  height: Math.round(box.height * 10) / 10});
    }
    return found;
  };
  const body = [...document.querySelectorAll("main p, main li, main td")]
    .flatMap((el) => texts(el, ".chart, .verdict, .figure b"));
  const findings = [...document.querySelectorAll("#results td.key-finding")].map((td) => {
    const box = td.getBoundingClientRect();
    return {left: box.left, right: box.right, width: box.width, text: td.textContent};
  });
  const wrap = document.querySelector("#results .table-wrap");
  // Anything seen that reaches past the viewport, or that scrolls sideways to show itself (a
  // visually hidden header, clipped to nothing, is for screen readers and is not seen).
  const hidden = (el) => { for (let a = el; a; a = a.parentElement)
    if (getComputedStyle(a).clipPath !== "none") return true; return false; };
  const tooWide = [...document.querySelectorAll("main *")].filter((el) => !hidden(el)).flatMap((el) => {
    const box = el.getBoundingClientRect();
    const scrolls = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible";
    return (box.width && (box.right > innerWidth + 0.5 || box.left < -0.5)) || scrolls
      ? [`${el.tagName}: ${el.textContent.trim().slice(0, 40)}`] : [];
  });
  return {width: innerWidth, bodyFont: parseFloat(getComputedStyle(document.body).fontSize),
          tooWide, trendDates: [...document.querySelectorAll(".trend-dates span")].map((s) => s.textContent),
          body: body.map((t) => t.size),
          charts: [...document.querySelectorAll(".chart")].flatMap((c) => texts(c, null)),
          findings, pageOverflow: document.documentElement.scrollWidth - innerWidth,
          resultsOverflow: wrap.scrollWidth - wrap.clientWidth};
})()"""


async def measure(browser: str, page_url: str, folder: Path, widths: tuple[int, ...]) -> dict:
    from tests.devtools import chromium

    found = {}
    async with chromium(browser, folder / "profile") as page:
        for width in widths:
            await page.open(page_url, width)
            found[width] = await page.evaluate(MEASURE)
            found[width]["screenshot"] = str(await page.screenshot(folder / f"report-{width}px.png"))
    return found


def _with_trend(result: RunResult) -> RunResult:
    """The result with a run history, so that the trend chart is drawn too."""
    points = [TrendPoint(f"r{i}", f"2026-01-0{i}T10:00:00+00:00", rate, risk, verdict)
              for i, (rate, risk, verdict) in enumerate(
                  [(1.0, 0.0, "GO"), (0.43, 120_000.0, "NO-GO"), (0.86, 120_000.0, "NO-GO")], 1)]
    return replace(result, changes=Changes(previous_run_id="r2", previous_verdict="NO-GO",
                                           trend=points))


def test_chart_text_keeps_the_body_size_and_the_key_finding_stays_visible_at_390_and_1280_px(
        seed_incident: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed, and CI must run the browser test")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    page = tmp_path / "report.html"
    page.write_text(render(_with_trend(RunResult.from_json(
        (seed_incident / "results.json").read_text())), "html"))
    found = asyncio.run(asyncio.wait_for(
        measure(browser, page.resolve().as_uri(), tmp_path, (390, 1280)), timeout=120))
    (tmp_path / "measured.json").write_text(json.dumps(found, indent=1))
    for width, seen in found.items():
        low, high = min(seen["body"]), max(seen["body"])
        sizes = sorted({t["size"] for t in seen["charts"]})
        print(f"{width}px: body text {low}-{high}px (body {seen['bodyFont']}px), chart text {sizes} px,"
              f" {seen['screenshot']}")
        assert seen["width"] == width and Path(seen["screenshot"]).stat().st_size > 10_000
        assert {"P1", "auth", "100%"} <= {t["text"] for t in seen["charts"]}  # both charts measured
        assert sizes and low <= sizes[0] and sizes[-1] <= high, (width, sizes, low, high)
        assert len(seen["findings"]) == 15 and all(
            f["width"] > 0 and f["left"] >= 0 and f["right"] <= width for f in seen["findings"])
        assert seen["pageOverflow"] <= 0
        assert seen["tooWide"] == [], (width, seen["tooWide"])  # every table fits, nothing scrolls
        assert seen["trendDates"] == ["1 Jan 2026, 10:00 UTC", "3 Jan 2026, 10:00 UTC"]
    assert found[390]["resultsOverflow"] <= 0  # on a phone, nothing of the table is scrolled away
