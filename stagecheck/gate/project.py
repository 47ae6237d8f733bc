"""Where behave was started: it reads its configuration (`[tool.behave]` of pyproject.toml) only
from the folder it is started in. Started in `features/` or below, it would still find the
features and this package's hooks, but run its plain runner: none of the gate's order,
settings, exit status or report folder. That is refused before anything runs or is written."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from ..vocabulary import ExitCode


def project_folder(start: Path) -> Path | None:
    """The folder at or above `start` whose pyproject.toml configures behave; None when the
    nearest pyproject.toml does not (or cannot be read), or there is none."""
    for folder in (start, *start.parents):
        config = folder / "pyproject.toml"
        if config.is_file():
            try:
                data = tomllib.loads(config.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return None
            return folder if "behave" in data.get("tool", {}) else None
    return None


def outside_project(features_folder: str, cwd: str) -> str:
    """Why behave, started in `cwd` on the features in `features_folder`, does not read the
    project's configuration, in one sentence; "" when it does (or there is none to read)."""
    project = project_folder(Path(os.path.abspath(features_folder)))
    if project is None or Path(cwd).resolve() == project.resolve():
        return ""
    return (f"behave was started in {cwd}, where it does not read the gate's configuration "
            f"({project / 'pyproject.toml'}): start it in {project}")


def refuse_outside_project(environment_file: str) -> None:
    """Called by features/environment.py as behave loads it, before any hook: exit 2 with one
    sentence and the verdict line when behave was started away from the project's folder."""
    problem = outside_project(os.path.dirname(environment_file), os.getcwd())
    if problem:
        print(f"stagecheck: {problem}", file=sys.stderr, flush=True)
        print(f"Release gate: could not judge · {problem} · exit {ExitCode.NOT_JUDGED}",
              file=sys.__stdout__ or sys.stdout, flush=True)
        raise SystemExit(ExitCode.NOT_JUDGED)
