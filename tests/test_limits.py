"""File descriptors: the soft limit is raised to the hard one at start; when they still run
out, the scenario fails with that cause and the report is written."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from tests.behave_run import ROOT

USERS = 300  # with the stand-in in the same process, about 600 descriptors


def _many_sessions(tmp_path: Path, soft: int, hard: int) -> tuple[subprocess.CompletedProcess, dict]:
    features = tmp_path / "features"
    features.mkdir()
    (features / "steps").symlink_to(ROOT / "features" / "steps")
    (features / "environment.py").symlink_to(ROOT / "features" / "environment.py")
    (features / "many.feature").write_text(f"""@p1 @mrr:120k @area:chat
Feature: Many live sessions
  Scenario: {USERS} users hold live sessions at the same time
    Given {USERS} signed-in users
    When each of them opens a live session at the same time
    Then every one of them is welcomed within 30 seconds
""")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run([sys.executable, "-m", "behave", "-f", "null", "-D",
                           f"report_dir={tmp_path / 'reports'}", str(features / "many.feature")],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, preexec_fn=limit)
    results = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    return done, results


def test_a_low_soft_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * USERS:
        import pytest
        pytest.skip(f"the hard limit ({hard}) is too low for this check")
    done, results = _many_sessions(tmp_path, 256, hard)
    assert done.returncode == 0, done.stderr[-2000:]
    assert results["verdict"]["decision"] == "GO"


def test_running_out_of_descriptors_is_the_environment_named_with_that_cause(
        tmp_path: Path) -> None:
    done, results = _many_sessions(tmp_path, 256, 256)
    assert done.returncode == 2  # a P1 scenario the machine could not judge: could not judge
    (scenario,) = results["scenarios"]
    assert scenario["status"] == "not judged"
    assert scenario["classification"] == "environment"
    assert scenario["key_finding"].startswith("not judged, the environment: the release gate ran "
                                              "out of file descriptors (limit 256)")
    assert "Event loop is closed" not in done.stderr
    assert (tmp_path / "reports" / "latest" / "report.html").exists()
