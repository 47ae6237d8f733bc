"""The verdict is the exit status, said last on the console and in verdict.json: 0 GO, 1 NO-GO,
3 AT RISK (0 when allowed), 2 when the run could not judge, 130 when interrupted. Bad business
tags stop the run before anything starts; old runs are pruned; evidence is attached for behave's
formatters."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from behave.configuration import Configuration
from behave.parser import parse_feature

from stagecheck.errors import ConfigError
from stagecheck.gate.selection import check_selection, named_tags
from stagecheck.outputs.reports import RUN_FOLDER, write_reports
from stagecheck.report.model import RunResult
from tests.behave_run import FAST, ROOT, run_behave

DISCOVERY = ROOT / "features" / "agent_discovery.feature"


def verdict(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "verdict.json").read_text())


def last_line(run) -> str:
    return run.stdout.strip().splitlines()[-1]


def features_with(tmp_path: Path, **replacements: tuple[str, str]) -> Path:
    """A copy of features/ (steps and hooks included) with text replaced in named files."""
    copy = tmp_path / "features"
    shutil.copytree(ROOT / "features", copy)
    for name, (old, new) in replacements.items():
        path = copy / f"{name}.feature"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
    return copy


def test_go_exits_0_and_says_so_last(tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", *FAST)
    assert run.returncode == 0
    # The console names only what was selected, and behave's summary counts only that.
    assert "Feature: Operations" not in run.stdout and "Scenario: The backend names the build" \
        not in run.stdout and "Feature: Agent discovery" in run.stdout
    assert "6 features passed, 0 failed, 0 skipped\n15 scenarios passed, 0 failed, 0 skipped\n" \
        in run.stdout
    assert re.fullmatch(r"Release gate: GO · all 15 selected scenarios passed · revenue at risk "
                        r"\$0 · report .*report\.md · exit 0", last_line(run))
    found = verdict(tmp_path)
    assert found["decision"] == "GO" and found["exit_code"] == 0
    assert (found["revenue_at_risk"], found["revenue_unverified"]) == (0.0, 0.0)
    assert '"revenue_at_risk": 0.0,' in (tmp_path / "reports" / "latest" / "verdict.json").read_text()
    assert found["counts"] == {"selected": 15, "passed": 15, "failed": 0, "degraded": 0,
                               "not_verified": 0, "not_judged": 0, "left_out": 0}
    assert found["insecure_tls"] is False
    assert Path(found["reports"]["md"]).is_file() and found["target_version"] == "1.0.0"
    # behave_run passes no --stop; a GO with --stop never says it stopped at a failure
    stopped = run_behave(tmp_path / "stop", "--tags=@p1", "--stop", *FAST)
    report = (tmp_path / "stop" / "reports" / "latest" / "report.md").read_text()
    assert stopped.returncode == 0 and "on: nothing failed, so every selected scenario ran" in report


def test_no_go_exits_1(tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", "standin_fault=missing-mcp-tables", *FAST)
    assert run.returncode == 1 and last_line(run).startswith(
        "Release gate: NO-GO · 2 critical scenarios failed: P1 “A user discovers the available "
        "agent servers”, P1 “A user's request streams its progress and completes” · revenue at "
        "risk $120K")
    assert verdict(tmp_path)["exit_code"] == 1 and verdict(tmp_path)["revenue_at_risk"] == 120_000
    assert '"revenue_at_risk": 120000.0,' in (tmp_path / "reports" / "latest" / "verdict.json").read_text()


@pytest.mark.parametrize(("extra", "code"), [([], 3), (["-D", "at_risk_exit=0"], 0)])
def test_at_risk_exits_3_unless_allowed(tmp_path: Path, extra: list[str], code: int) -> None:
    # Discovery as a P3 feature: its failure puts $50K at risk, and no P1 or P2 scenario fails.
    features = features_with(tmp_path, agent_discovery=("@p1 @mrr:120k", "@p3 @mrr:50k"))
    run = run_behave(tmp_path, str(features), "--tags=@p1 or @p3",  # P1 and the P3 pool only
                     "-D", "standin_fault=discovery-server-without-status", *FAST, *extra)
    assert run.returncode == code, run.stdout[-2000:]
    assert last_line(run).startswith("Release gate: AT RISK · 1 lower-priority scenario failed: "
                                     "P3 “A user discovers the available agent servers” · "
                                     "revenue at risk $50K")
    assert verdict(tmp_path)["decision"] == "AT RISK" and verdict(tmp_path)["exit_code"] == code


def test_a_p3_fault_is_at_risk_with_50k_and_names_the_owner(tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--tags=not @load", "-D",
                     "standin_fault=agent-events-cross-users", *FAST)
    assert run.returncode == 3, run.stdout[-2000:]
    assert last_line(run).startswith("Release gate: AT RISK · 1 lower-priority scenario failed: "
                                     "P3 “Two users' runs at the same time each reach only their "
                                     "own user” · revenue at risk $50K")
    found = verdict(tmp_path)
    assert found["counts"]["failed"] == 1 and found["revenue_at_risk"] == 50_000
    report = Path(found["reports"]["md"]).read_text()
    assert "**agents-team** ($50K at risk): “Two users' runs at the same time" in report
    assert "| P3 | agents-team | $50K |" in report


def test_a_degraded_speed_is_at_risk_reported_apart_from_failures(tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--tags=(@p1 or @p4) and not @load", "-D",
                     "standin_fault=latency-over-soft-budget", *FAST)
    assert run.returncode == 3, run.stdout[-2000:]
    assert re.match(r"Release gate: AT RISK · 4 scenarios degraded, over their soft budget: .* "
                    r"· revenue at risk \$30K", last_line(run))
    found = verdict(tmp_path)
    assert found["counts"]["failed"] == 0 and found["counts"]["degraded"] == 4
    assert "4 scenarios degraded, over their soft budget" in found["reason"]
    results = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    degraded = [s for s in results["scenarios"] if s["status"] == "degraded"]
    assert all(s["key_finding"].startswith("degraded: p95 of ") and "over its soft budget"
               in s["key_finding"] for s in degraded)
    report = Path(found["reports"]["md"]).read_text()
    assert "### Degraded (within the hard budget, over the soft one)" in report
    assert "**platform-team** ($30K at risk)" in report


def test_a_report_that_cannot_be_written_exits_2_and_still_says_the_verdict(tmp_path: Path) -> None:
    """The line leads with what the exit status says (could not judge), then what the scenarios
    alone said: a reader never sees GO beside exit 2."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = run_behave(tmp_path, "--tags=@p1", "-D", f"report_dir={blocker / 'reports'}", *FAST)
    assert run.returncode == 2
    assert re.fullmatch(r"Release gate: could not judge · no report: the report could not be "
                        r"written: .* · the scenarios alone said GO: all 15 selected scenarios "
                        r"passed · revenue at risk \$0 · exit 2", last_line(run))


def test_latest_moves_only_to_a_report_written_whole(tmp_path: Path, monkeypatch) -> None:
    run_behave(tmp_path, "--tags=@p1", "--name", "reports itself up", *FAST)
    latest = tmp_path / "reports" / "latest"
    before = os.readlink(latest)
    result = RunResult.from_json((latest / "results.json").read_text())
    result.facts.run_id = "20991231T235959Z-abcdef"

    def broken(*_: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("stagecheck.outputs.reports.render_all", broken)
    with pytest.raises(OSError, match="No space left"):
        write_reports(result, tmp_path / "reports")
    assert os.readlink(latest) == before
    assert not (tmp_path / "reports" / result.facts.run_id).exists()


def test_github_job_summary_gets_the_executive_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    run = run_behave(tmp_path, "--tags=@p1", "-D", "standin_fault=missing-mcp-tables", "--stop",
                     *FAST, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.returncode == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n# Release gate: NO-GO")
    assert "**Revenue at risk:** $120K MRR" in text and "500 Internal Server Error" in text


def test_old_runs_are_pruned_but_never_latest(tmp_path: Path) -> None:
    """The newest two runs are kept, in the order they ran: runs in one second (their ids then
    differ only by a random part) included."""
    reports, ran = tmp_path / "reports", []
    for _ in range(3):
        run = run_behave(tmp_path, "--tags=@p1", "--name", "reports itself up", "-D", "keep_runs=2")
        assert run.returncode == 0
        ran.append(os.readlink(reports / "latest"))
    folders = {p.name for p in reports.iterdir() if p.is_dir() and not p.is_symlink()}
    assert folders == set(ran[1:]) and os.readlink(reports / "latest") == ran[-1]
    with sqlite3.connect(reports / "history.sqlite") as db:
        assert {r for (r,) in db.execute("SELECT run_id FROM runs")} == folders
        assert {r for (r,) in db.execute("SELECT DISTINCT run_id FROM scenario_runs")} == folders


def test_run_ids_sort_in_the_order_runs_began_within_one_second(monkeypatch) -> None:
    """Retention keeps the newest runs by id: two runs in one second must not be ordered by a
    random part (the order of began is checked with a clock that stays in one second)."""
    import stagecheck.run.record as record

    base = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    moments = [base.replace(microsecond=us) for us in (0, 1, 15, 16, 4095, 65536, 999_999)]
    clock = iter(moments)
    monkeypatch.setattr(record, "datetime", type("Clock", (), {"now": staticmethod(
        lambda tz=None: next(clock))}))
    ids = [record.new_run_id() for _ in moments]
    assert sorted(ids) == ids and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"20260101T120000Z-[0-9a-f]{6}", i) for i in ids)
    assert all(RUN_FOLDER.match(i) for i in ids)  # retention still sees them as run folders


@pytest.mark.parametrize(("setting", "words"), [
    ("keep_runs=-1", "keep_runs must be 0 or more"),
    ("keep_runs=lots", "keep_runs must be a whole number"),
    ("at_risk_exit=1", "at_risk_exit must be 3"),
])
def test_bad_verdict_settings_exit_2_in_one_sentence(tmp_path: Path, setting: str, words: str) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", setting)
    assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(("old", "new", "words"), [
    ("@p1 @mrr:120k", "@p0 @mrr:120k", "has @p0: a priority is @p1 to @p6"),
    ("@p1 @mrr:120k", "@p9 @mrr:120k", "has @p9: a priority is @p1 to @p6"),
    ("@p1 @mrr:120k", "@P1 @mrr:120k", "has @P1: write @p1, or --tags=@p1 leaves it out"),
    ("@p1 @mrr:120k", "@p1 @p3 @mrr:120k", "has two priorities, @p1 and @p3"),
    ("@p1 @mrr:120k", "@p1 @mrr:abc", "has @mrr:abc: revenue is a positive amount"),
    ("@p1 @mrr:120k", "@p1 @mrr:-5k", "has @mrr:-5k: revenue is a positive amount"),
    ("@p1 @mrr:120k", "@p1 @mrr:1e309", "has @mrr:1e309: revenue is a positive amount"),
    ("@p1 @mrr:120k", "@p1 @mrr:120k @mrr:80k", "has two revenue tags, @mrr:120k and @mrr:80k"),
    ("@p1 @mrr:120k", "@p1 @mrr:100k", "are both P1 but count different revenue"),
    ("@p1 @mrr:120k", "@mrr:120k", "has no priority: tag the feature (or the scenario) with one"),
])
def test_bad_business_tags_stop_the_run_before_anything_starts(tmp_path: Path, old: str, new: str,
                                                               words: str) -> None:
    features = features_with(tmp_path, agent_discovery=(old, new))
    run = run_behave(tmp_path, str(features))
    assert run.returncode == 2, run.stdout[-2000:]
    line = run.stderr.strip().splitlines()[-1]
    assert words in line and "Agent discovery" in line and "agent_discovery.feature" in line
    assert "Traceback" not in run.stderr and not (tmp_path / "reports").exists()
    assert last_line(run) == f"Release gate: could not judge · {line.removeprefix('stagecheck: ')} · exit 2"


@pytest.mark.parametrize(("old", "new", "said"), [
    ("    Then at least one agent server is listed\n",
     "    Then at least one agent server is listed\n  Oops, not Gherkin\n",
     ":11: unexpected line 'Oops, not Gherkin'"),
    ("@p1 @mrr:120k", "@p1 @mrr:120k oops", ":1: not a tag: oops"),
], ids=["unexpected-line", "bad-tag"])
def test_a_feature_syntax_error_is_said_once_with_one_location(tmp_path: Path, old: str, new: str,
                                                                said: str) -> None:
    features = features_with(tmp_path, agent_discovery=(old, new))
    run = run_behave(tmp_path, str(features))
    said = f"a feature file cannot be read: {features / 'agent_discovery.feature'}{said}"
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip() == f"stagecheck: {said}"  # behave's own said "at line 7" as well
    assert last_line(run) == f"Release gate: could not judge · {said} · exit 2"


@pytest.mark.parametrize(("tags", "words"), [
    ("@P1", "--tags=@P1 names @P1, which no feature or scenario carries; tags are case-sensitive: "
            "write @p1"),
    ("@p7", "--tags=@p7 names @p7, which no feature or scenario carries; a priority is @p1 to @p6"),
    ("@pl", "--tags=@pl names @pl, which no feature or scenario carries; a priority is @p1 to @p6"),
    ("@p1 or @P2", "names @P2, which no feature or scenario carries; tags are case-sensitive"),
    ("@nosuchtag", "--tags=@nosuchtag selects no scenario: no feature or scenario is tagged "
                   "@nosuchtag"),
    ("@p1 and @p2", "the selection --tags=(@p1 and @p2) matches no scenario"),
])
def test_a_selection_mistake_could_not_judge_in_one_sentence_writing_nothing(
        tmp_path: Path, tags: str, words: str) -> None:
    run = run_behave(tmp_path, f"--tags={tags}")
    assert run.returncode == 2
    said = run.stderr.strip()
    assert said.startswith("stagecheck: ") and words in said and len(said.splitlines()) == 1, said
    assert last_line(run) == (f"Release gate: could not judge · {said.removeprefix('stagecheck: ')}"
                              " · exit 2")
    assert not (tmp_path / "reports").exists()  # no report, no latest, no history row


@pytest.mark.parametrize(("args", "words"), [
    (["--tags=@p1 and"], "the tag expression does not parse (Syntax error. Expected operand "
                         "after and); nothing was run"),
    (["no-such-features-folder"], "behave refused the run before it began"),
])
def test_stagecheck_gate_says_behaves_own_refusals_as_exit_2_with_a_verdict_line(
        tmp_path: Path, args: list[str], words: str) -> None:
    """Plain behave ends these with exit 1 (a NO-GO to a pipeline) and no verdict line, before
    any of the gate's code loads; `stagecheck gate` runs the same behave and says them."""
    done = subprocess.run([sys.executable, "-m", "stagecheck", "gate", *args,
                           "-D", f"report_dir={tmp_path / 'reports'}"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stdout[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("Release gate: could not judge · ") and words in last, last
    assert last.endswith(" · exit 2") and not (tmp_path / "reports").exists()


@pytest.mark.parametrize(("fault", "runner", "code", "verdict"), [
    ("", [], 0, "GO"),
    # another runner asked for: the gate's runs all the same (one verdict line, its exit status)
    ("health-down", ["--runner=behave.runner:Runner"], 1, "NO-GO"),
])
def test_stagecheck_gate_is_behave_with_the_verdict_as_its_exit_status(
        tmp_path: Path, fault: str, runner: list[str], code: int, verdict: str) -> None:
    faults = ["-D", f"standin_fault={fault}"] if fault else []
    done = subprocess.run([sys.executable, "-m", "stagecheck", "gate", "--tags=@p1", "--name",
                           "reports itself up", *runner, *faults, *FAST,
                           "-D", f"report_dir={tmp_path / 'reports'}"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == code, done.stdout[-2000:]
    said = [line for line in done.stdout.splitlines() if line.startswith("Release gate")]
    assert len(said) == 1 and said[0].startswith(f"Release gate: {verdict} · "), said
    assert (tmp_path / "reports" / "latest" / "report.md").is_file()


@pytest.mark.parametrize(("tags", "named"), [
    ("@p1 and not @destructive", ["p1", "destructive"]),
    (["@p1", "~@wip"], ["p1", "wip"]),  # behave's older syntax: --tags given twice, ~ for not
    ("@p1,@P2", ["p1", "P2"]),
    ("(p1 or @area:chat) and not (@load)", ["p1", "area:chat", "load"]),
    ("", []),
])
def test_the_tags_a_selection_names_are_read_from_any_tag_syntax(tags, named: list[str]) -> None:
    assert named_tags(tags) == named


@pytest.mark.parametrize(("args", "words"), [
    (["--tags=@p1 or @p2"], ""),  # a tier these features lack is no mistake when others match
    (["--tags=not @wip"], ""),
    (["--tags=@p1"], "--tags=@p1 selects no scenario: no feature or scenario is tagged @p1"),
    (["--tags=@P2"], "names @P2, which no feature or scenario carries; tags are case-sensitive: "
                     "write @p2"),
    (["--tags=@p2", "--name", "nothing"], "the selection --tags=@p2 and --name nothing matches "
                                         "no scenario"),
])
def test_the_selection_is_checked_against_the_features_it_runs(args: list[str], words: str) -> None:
    features = [parse_feature("@p2 @mrr:80k\nFeature: F\n  Scenario: S\n    When x\n")]
    config = Configuration(command_args=args, load_config=False)
    if not words:
        check_selection(features, config)
        return
    with pytest.raises(ConfigError) as refused:
        check_selection(features, config)
    assert words in str(refused.value)


def test_a_dry_run_says_what_it_selected_and_exits_0_writing_nothing(tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--dry-run", "--tags=@p1")
    assert run.returncode == 0
    assert last_line(run) == ("Release gate: dry run · 15 scenarios selected, none run, nothing "
                              "judged · exit 0")
    assert not (tmp_path / "reports").exists()


def test_each_step_attaches_its_exchanges_for_behaves_formatters(tmp_path: Path) -> None:
    key = "attach-test-bypass-key-5678"
    run = run_behave(tmp_path, "--tags=@p1", "--name", "signs in through",
                     env={"E2E_OAUTH_SIMULATION_KEY": key})  # behave's JSON formatter is on
    assert run.returncode == 0
    steps = [step for element in run.scenarios.values() for step in element["steps"]]
    attached = [json.loads(base64.b64decode(e["data"])) for step in steps
                for e in step.get("embeddings", []) if e["mime_type"] == "application/json"]
    actions = [exchange["action"] for exchanges in attached for exchange in exchanges]
    assert actions == ["POST", "POST"]  # the sign-in, then the token check
    for text in ((tmp_path / "behave.json").read_text(), json.dumps(attached)):
        assert key not in text and "eyJ" not in text  # no key, no token, in clear or attached
