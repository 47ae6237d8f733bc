"""A newcomer's first hour: the README's quick start (`make p1`, `make test`) works from a fresh
clone with no virtualenv active and inside one, and behave started anywhere in the checkout either
reads the gate's configuration or refuses in one sentence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stagecheck.gate.project import outside_project, project_folder
from tests.behave_run import ROOT

# What `pip install -e .` needs (pyproject.toml's dependencies), as modules.
DEPENDENCIES = ["behave", "httpx", "websockets", "hamcrest", "jinja2", "markdown_it", "parse",
                "parse_type", "starlette", "uvicorn", "sqlalchemy", "alembic", "jwt",
                "prometheus_client"]
FRESH_CLONE = "STAGECHECK_TEST_FRESH_CLONE"  # =1: install a fresh clone from the package index


@pytest.mark.parametrize("folder", ["features", "features/steps"])
def test_behave_started_in_a_subfolder_is_refused_in_one_sentence(tmp_path: Path,
                                                                  folder: str) -> None:
    reports = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "behave", "--tags=@p1", "-D",
                          f"report_dir={reports}"], cwd=ROOT / folder, capture_output=True,
                         text=True, timeout=120)
    said = run.stderr.strip()
    assert run.returncode == 2, run.stdout[-2000:] + said[-2000:]
    assert said == (f"stagecheck: behave was started in {ROOT / folder}, where it does not read "
                    f"the gate's configuration ({ROOT / 'pyproject.toml'}): start it in {ROOT}")
    assert run.stdout.strip().splitlines()[-1] == (
        f"Release gate: could not judge · {said.removeprefix('stagecheck: ')} · exit 2")
    assert not reports.exists()  # nothing ran, nothing was written


def test_the_project_folder_is_the_nearest_pyproject_that_configures_behave(
        tmp_path: Path) -> None:
    (tmp_path / "features" / "steps").mkdir(parents=True)
    assert project_folder(tmp_path / "features") is None
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert project_folder(tmp_path / "features") is None  # another project's pyproject
    (tmp_path / "pyproject.toml").write_text("[tool.behave]\npaths = ['features']\n")
    assert project_folder(tmp_path / "features" / "steps") == tmp_path
    assert outside_project(str(tmp_path / "features"), str(tmp_path)) == ""
    assert outside_project(str(tmp_path / "features"), str(tmp_path / "features")).startswith(
        f"behave was started in {tmp_path / 'features'}, where it does not read")
    (tmp_path / "pyproject.toml").write_text("[tool.behave\n")
    assert project_folder(tmp_path / "features") is None  # unreadable: behave says so itself


def base_python() -> str:
    """A real interpreter, not a virtualenv's: what `python3` is where none is active."""
    return getattr(sys, "_base_executable", "") or sys.executable


def _no_virtualenv() -> dict[str, str]:
    """This process's environment as a shell with no virtualenv active has it."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if not p.startswith(active))
    return env


def _venv_options() -> list[str]:
    """Reuse the base interpreter's packages, and its pip, when it has them all (seconds, and
    no package index); else install from the package index, which only runs when asked for."""
    found = subprocess.run([base_python(), "-c", "import importlib.util, sys; sys.exit(any("
                            f"importlib.util.find_spec(m) is None for m in {[*DEPENDENCIES, 'pip']!r}))"],
                           capture_output=True, timeout=60)
    if found.returncode == 0:
        return ["--system-site-packages", "--without-pip"]
    if os.environ.get(FRESH_CLONE) != "1":
        pytest.skip(f"{base_python()} lacks the dependencies, so a fresh clone would install them "
                    f"from the package index: set {FRESH_CLONE}=1 to run it")
    return []


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.skip("make and git are needed to try the quick start")
    if not (ROOT / ".git").exists():
        pytest.skip("this checkout is not a git repository, so it cannot be cloned")
    clone = tmp_path / "clone"
    cloned = subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)],
                            capture_output=True, text=True, timeout=60)
    assert cloned.returncode == 0, cloned.stderr
    return clone


@pytest.mark.parametrize("active", [False, True], ids=["no virtualenv", "a virtualenv active"])
def test_the_quick_start_works_from_a_fresh_clone(fresh_clone: Path, tmp_path: Path,
                                                   active: bool) -> None:
    env = _no_virtualenv()
    options = _venv_options()
    venv = fresh_clone / ".venv"
    if active:  # as `python3 -m venv somewhere && . somewhere/bin/activate` leaves a shell
        venv = tmp_path / "active"
        made = subprocess.run([base_python(), "-m", "venv", *options, str(venv)],
                              capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    run = subprocess.run(["make", "--no-print-directory", "p1", f"BASE_PYTHON={base_python()}",
                          f"VENV_OPTIONS={' '.join(options)}"], cwd=fresh_clone, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1].startswith("Release gate: GO · all 15 selected")
    assert (fresh_clone / ".venv").exists() != active  # the active virtualenv is used as it is
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import stagecheck; print(stagecheck.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(fresh_clone / "stagecheck" / "__init__.py")
