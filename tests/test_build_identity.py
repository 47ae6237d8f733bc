"""The backend names the build being released: compared with -D expected_version (the stand-in
knows its own), and without it not verified, never passed on any non-empty version."""

from __future__ import annotations

import json
from pathlib import Path

from tests.behave_run import FAST, run_behave
from tests.test_blame import healthy_staging

BUILD = "The backend names the build it runs"


def scenario(tmp_path: Path) -> dict:
    data = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    return next(s for s in data["scenarios"] if s["name"] == BUILD)


def test_the_build_being_released_is_the_one_the_backend_names(tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--tags=@p6", "--name", BUILD, *FAST)
    assert run.returncode == 0 and scenario(tmp_path)["key_finding"] == \
        "version 1.0.0, the build being released"


def test_another_build_named_fails_as_the_product(tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--tags=@p6", "--name", BUILD, "-D", "expected_version=1.4.2",
                     *FAST)
    found = scenario(tmp_path)
    assert run.returncode == 3 and found["status"] == "failed"
    assert found["classification"] == "product defect"
    assert found["key_finding"] == "the backend names build 1.0.0, not 1.4.2"


def test_without_the_expected_version_a_staging_build_is_not_verified(tmp_path: Path) -> None:
    with healthy_staging() as (url, key):
        run = run_behave(tmp_path, "--tags=@p6", "--name", BUILD, "-D", "target=staging", *FAST,
                         env={"STAGING_BASE_URL": url, "E2E_OAUTH_SIMULATION_KEY": key})
    found = scenario(tmp_path)
    assert run.returncode == 3 and found["status"] == "skipped"
    assert "pass -D expected_version=<version>" in found["key_finding"]
