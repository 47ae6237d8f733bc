"""The wheel is enough: installed into a fresh virtualenv, away from the checkout, it runs the gate
on a vendored copy of the features and renders a report again; the `stagecheck` command."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from stagecheck.report.model import ScenarioResult
from tests.behave_run import ROOT
from tests.test_diagnosis import run_result

# What README.md tells a platform team to put in its own pyproject.toml beside features/.
VENDORED_CONFIG = """\
[tool.behave]
paths = [
    "features/live_sessions.feature",
    "features/agent_discovery.feature",
    "features/sign_in.feature",
    "features/platform_health.feature",
    "features/agent_runs.feature",
    "features/conversations.feature",
    "features/security.feature",
    "features/agent_workflows.feature",
    "features/performance.feature",
    "features/load.feature",
    "features/data_integrity.feature",
    "features/operations.feature",
]
tags = ["not @load"]
runner = "stagecheck.gate.runner:GateRunner"
logging_level = "WARNING"
"""


def run(*args: str | Path, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """A command as a shell would run it, without this test run's PYTHONPATH (which would put a
    checkout before the wheel)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def base_python() -> str:
    """The real interpreter under this one (itself when no virtualenv runs the tests)."""
    return getattr(sys, "_base_executable", "") or sys.executable


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtualenv holding the wheel built from this checkout, its dependencies those of the
    environment running the tests: a virtualenv's own (`make test`'s .venv) or the system's."""
    folder = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                "-w", folder / "dist", ROOT, cwd=folder)
    assert built.returncode == 0, built.stderr[-3000:]
    venv = folder / "venv"
    made = run(base_python(), "-m", "venv", "--system-site-packages", venv, cwd=folder)
    assert made.returncode == 0, made.stderr
    # A virtualenv made from a virtualenv's Python sees the base interpreter's packages, not the
    # ones installed in the virtualenv running the tests: name those after the wheel's own.
    (own,) = (venv / "lib").glob("python3*/site-packages")
    (own / "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    (wheel,) = (folder / "dist").glob("stagecheck-*.whl")
    done = run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps",
               "--ignore-installed", "--no-index", wheel, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


@pytest.fixture
def vendored(tmp_path: Path) -> Path:
    """A platform team's repository: the features and the behave settings, nothing else."""
    shutil.copytree(ROOT / "features", tmp_path / "features",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pyproject.toml").write_text(VENDORED_CONFIG)
    return tmp_path


def test_the_wheel_runs_the_gate_and_renders_again_outside_the_checkout(installed: Path,
                                                                      vendored: Path) -> None:
    python = installed / "bin" / "python"
    where = run(python, "-c", "import stagecheck, standin; print(stagecheck.__file__, "
                "standin.__file__)", cwd=vendored)
    assert where.stdout.count(str(installed)) == 2, where.stdout  # the wheel's, not the checkout's
    gate = run(python, "-m", "behave", "--tags=@p1", "-f", "null", cwd=vendored)
    assert gate.returncode == 0, gate.stdout[-3000:] + gate.stderr[-3000:]
    assert gate.stdout.strip().splitlines()[-1].startswith("Release gate: GO")
    results = vendored / "reports" / "latest" / "results.json"
    assert json.loads(results.read_text())["verdict"]["decision"] == "GO"
    again = run(installed / "bin" / "stagecheck", "report", results, "--format", "html", "-o",
                vendored / "again.html", cwd=vendored)
    assert again.returncode == 0, again.stderr
    assert "Release gate report" in (vendored / "again.html").read_text()
    version = run(installed / "bin" / "stagecheck", "--version", cwd=vendored)
    assert version.stdout.strip() == "stagecheck 0.1.0"


@pytest.mark.parametrize(("content", "words"), [
    ("[1, 2]", "not a JSON object"),
    ('{"schema_version": 1, "facts": "oops"}', "is not a stagecheck results file"),
    ("{" * 100_000, "not JSON"),
    ("\udcff not utf-8", "is not a stagecheck results file"),
])
def test_rerendering_a_malformed_results_file_says_so_in_one_line(tmp_path: Path, content: str,
                                                                  words: str) -> None:
    bad = tmp_path / "results.json"
    bad.write_bytes(content.encode("utf-8", "surrogateescape"))
    again = run(sys.executable, "-m", "stagecheck", "report", bad, cwd=ROOT)
    assert again.returncode == 2
    assert words in again.stderr and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_an_unknown_status_in_results_is_refused_in_one_line(tmp_path: Path) -> None:
    scenario = ScenarioResult(name="s", feature="f", location="f:1", tags=[], priority=1,
                              revenue=1.0, area="a", status="passed", duration_s=0.1)
    data = json.loads(run_result([scenario]).to_json())
    data["scenarios"][0]["status"] = "sort of passed"
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps(data))
    again = run(sys.executable, "-m", "stagecheck", "report", bad, cwd=ROOT)
    assert again.returncode == 2 and "'sort of passed' is not a valid Status" in again.stderr
