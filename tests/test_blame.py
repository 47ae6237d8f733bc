"""Who is at fault, applied everywhere: only the product's proven faults fail a scenario and put
revenue at risk; the gate's own defect, the environment and an interrupt leave scenarios not
judged or not reached, named as such; the run's policy leaves scenarios out, said, never a
NO-GO. Each case asserts the outcome, the exit status, the blame and that the report was written."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.behave_run import FAST, ROOT, run_behave
from tests.hostile import closed_port, http_server


def results(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())


def verdict(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "verdict.json").read_text())


def last_line(run) -> str:
    return run.stdout.strip().splitlines()[-1]


def only_product_faults_cost_revenue(data: dict) -> None:
    """The headline figures and lists speak of product defects only."""
    failed = [s for s in data["scenarios"] if s["status"] in ("failed", "error")]
    assert all(s["classification"] in ("product defect", "contract mismatch") for s in failed)
    if not failed:
        assert data["impact"]["revenue_at_risk"] == 0


def test_an_undefined_step_is_the_gates_own_defect_and_the_run_could_not_judge(
        tmp_path: Path) -> None:
    features = tmp_path / "features"
    features.mkdir()
    (features / "steps").symlink_to(ROOT / "features" / "steps")
    (features / "environment.py").symlink_to(ROOT / "features" / "environment.py")
    (features / "typo.feature").write_text(
        "@p1 @mrr:120k @area:agents @owner:agents-team\n"
        "Feature: Agent runs\n"
        "  Scenario: A user's request streams its progress\n"
        "    Given a signed-in user\n"
        "    Then the frobnicator glows\n")
    run = run_behave(tmp_path, str(features / "typo.feature"), *FAST)
    assert run.returncode == 2, run.stdout[-2000:]
    assert last_line(run).startswith(
        "Release gate: could not judge · 1 P1 scenario could not be judged, for the gate's own "
        "defect: P1 “A user's request streams its progress” · revenue at risk $0 · report ")
    scenario = results(tmp_path)["scenarios"][0]
    assert scenario["status"] == "not judged" and scenario["classification"] == "test defect"
    assert "the step “Then the frobnicator glows” is not defined" in scenario["key_finding"]
    found = verdict(tmp_path)
    assert found["decision"] == "COULD NOT JUDGE" and found["exit_code"] == 2
    assert found["revenue_at_risk"] == 0 and found["counts"]["not_judged"] == 1
    report = Path(found["reports"]["md"]).read_text()
    assert "### What is broken" not in report and "By owner" not in report
    assert "Correct the gate's configuration" not in report
    assert "Fix the release gate's own step code" in report  # the next step is ours


def test_an_unreachable_target_is_the_environment_and_the_run_could_not_judge(
        tmp_path: Path) -> None:
    with closed_port() as url:
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging", "-D", f"base_url={url}",
                         *FAST, env={"E2E_OAUTH_SIMULATION_KEY": "a-key-of-sixteen-chars"})
    assert run.returncode == 2, run.stdout[-2000:]
    assert last_line(run).startswith("Release gate: could not judge · 15 P1 scenarios could not "
                                     "be judged, for the environment: ")
    data = results(tmp_path)
    assert {s["status"] for s in data["scenarios"]} == {"not judged"}
    assert {s["classification"] for s in data["scenarios"]} == {"environment"}
    assert all(s["key_finding"].startswith("not judged, the environment: ")
               for s in data["scenarios"])
    assert data["impact"]["revenue_at_risk"] == 0
    assert data["impact"]["revenue_unverified"] == 120_000
    assert "Restore the test environment" in (tmp_path / "reports" / "latest" / "report.md").read_text()


def _wait_for_line(proc: subprocess.Popen, needle: str, timeout: float) -> str:
    """What the run printed, read until `needle` (behave's plain formatter prints a scenario's
    line as it starts and a step's once it has run), within `timeout` seconds."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    seen, deadline = b"", time.monotonic() + timeout
    while needle.encode() not in seen and time.monotonic() < deadline:
        if selector.select(timeout=0.1):  # read the pipe itself: lines that came in one
            chunk = os.read(proc.stdout.fileno(), 65536)  # chunk are never left in a buffer
            if not chunk:  # the select above cannot see
                break
            seen += chunk
    return seen.decode(errors="replace")


# In each tier, a scenario that waits long under a fault, and the line behave prints once that
# scenario is under way (its name as it starts, or a step it has finished).
INTERRUPTED_IN_EACH_TIER = [
    ("@p1", "streams its progress", "agent-never-completes", "Given a signed-in user with"),
    ("@p2", "A live session with an expired token is refused", "refusal-without-close",
     "Given a signed-in user is let into a live session"),
    ("@p3", "follow-up request", "agent-follow-up-stalls", "When the user asks an agent"),
    ("@p4 and not @load", "first sign of life fast", "agent-silent-failure",
     "Given a signed-in user with an open live session"),
    ("@p5", "A 10 KB message", "message-size-limit", "And the user has started a conversation"),
    ("@p6", "detailed health names each dependency", "hang",  # its first step is the wait:
     "Scenario: The detailed health names each dependency"),  # the plain formatter's start line
]


@pytest.mark.parametrize(("tags", "name", "fault", "under_way"), INTERRUPTED_IN_EACH_TIER,
                         ids=[row[0].split()[0] for row in INTERRUPTED_IN_EACH_TIER])
def test_a_sigterm_during_a_scenario_leaves_it_not_reached_never_failed(
        tmp_path: Path, tags: str, name: str, fault: str, under_way: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "behave", "--no-capture", "-f", "plain", f"--tags={tags}",
         "--name", name, "-D", f"standin_fault={fault}", "-D", "agent_timeout=60",
         "-D", "health_timeout=60", "-D", "ws_event_timeout=60",
         "-D", f"report_dir={tmp_path / 'reports'}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        before = _wait_for_line(proc, under_way, 60)
        assert under_way in before, before
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, out[-2000:]
    last = out.strip().splitlines()[-1]
    assert "(interrupted)" in last and "revenue at risk $0" in last, last
    data = results(tmp_path)
    scenario = next(s for s in data["scenarios"] if name.lower() in s["name"].lower())
    assert scenario["status"] == "untested", scenario  # not reached, never failed
    assert data["facts"]["interrupted"] is True
    assert not [s for s in data["scenarios"] if s["status"] in ("failed", "error", "not judged")]
    only_product_faults_cost_revenue(data)


@contextmanager
def healthy_staging() -> Iterator[tuple[str, str]]:
    """A stand-in started apart, as a staging would be: its URL and its bypass key."""
    key = "a-staging-bypass-key-0123456789"
    proc = subprocess.Popen([sys.executable, "-m", "standin", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "E2E_OAUTH_SIMULATION_KEY": key})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "backend http://127.0.0.1:PORT  auth …"
        yield line.split()[1], key
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_the_readmes_staging_command_says_go_on_a_healthy_staging(tmp_path: Path) -> None:
    with healthy_staging() as (url, key):
        run = run_behave(tmp_path, "--tags=@p1", "--stop", "-D", "target=staging", *FAST,
                         env={"STAGING_BASE_URL": url, "E2E_OAUTH_SIMULATION_KEY": key})
    assert run.returncode == 0, run.stdout[-3000:]
    assert last_line(run).startswith("Release gate: GO · all 15 selected scenarios passed")
    assert {s["status"] for s in results(tmp_path)["scenarios"]} == {"passed"}


def test_production_leaves_the_writing_scenarios_out_by_policy_and_says_so(tmp_path: Path) -> None:
    with healthy_staging() as (url, key):
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=production",
                         "-D", f"base_url={url}", *FAST, env={"E2E_OAUTH_SIMULATION_KEY": key})
    assert run.returncode == 0, run.stdout[-3000:]
    assert last_line(run).startswith("Release gate: GO · all 12 scenarios that ran passed; "
                                     "3 left out by policy: ")
    data = results(tmp_path)
    left_out = [s for s in data["scenarios"] if s["status"] == "left out"]
    assert len(left_out) == 3
    assert all("destructive" in s["tags"] and "never runs against production" in s["key_finding"]
               for s in left_out)
    found = verdict(tmp_path)
    assert found["counts"]["left_out"] == 3 and found["counts"]["not_verified"] == 0
    report = Path(found["reports"]["md"]).read_text()
    assert "### Left out by policy" in report and "### Not verified" not in report


def test_allow_destructive_false_on_staging_is_the_operators_policy_too(tmp_path: Path) -> None:
    with healthy_staging() as (url, key):
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging", "-D",
                         "allow_destructive=false", *FAST,
                         env={"STAGING_BASE_URL": url, "E2E_OAUTH_SIMULATION_KEY": key})
    assert run.returncode == 0, run.stdout[-3000:]
    left_out = [s for s in results(tmp_path)["scenarios"] if s["status"] == "left out"]
    assert len(left_out) == 3
    assert all("-D allow_destructive=false" in s["key_finding"] for s in left_out)


def test_a_captive_portal_is_the_environment_not_fourteen_product_defects(tmp_path: Path) -> None:
    page = b"<html><body><h1>Sign in to the guest Wi-Fi</h1><form>...</form></body></html>"
    with http_server(200, page, "text/html") as url:
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging", "-D", f"base_url={url}",
                         *FAST, env={"E2E_OAUTH_SIMULATION_KEY": "a-key-of-sixteen-chars"})
    assert run.returncode == 2, run.stdout[-3000:]
    data = results(tmp_path)
    assert not [s for s in data["scenarios"] if s["status"] in ("failed", "error")]
    html = [s for s in data["scenarios"] if "an HTML page answered in the platform's place"
            in s["error_message"]]
    assert html and all(s["classification"] == "environment" for s in html)
    report = (tmp_path / "reports" / "latest" / "report.md").read_text()
    assert "Bring the backend back up" not in report and "Restore the test environment" in report
