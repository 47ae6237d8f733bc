"""Rendering the result model with Jinja2: report.md, report.html (self-contained) and JSON."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    pass_eval_context,
    select_autoescape,
)
from jinja2.nodes import EvalContext

from ..vocabulary import ReportFormat
from .escape import md_cell, md_fence, md_field, md_html, md_prose
from .model import RunResult, scenario_anchor
from .rows import ScenarioRows
from .view import report_view


def _templates() -> Path:
    """stagecheck/templates in an installed wheel; the checkout's top-level templates/ otherwise."""
    packaged = Path(__file__).resolve().parents[1] / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "templates"


TEMPLATES = _templates()


@pass_eval_context
def md_every_field(context: EvalContext, value: object) -> object:
    """Every field of report.md escaped as prose unless a filter made it safe already (HTML
    templates are autoescaped by Jinja instead)."""
    return value if context.autoescape else md_field(value)


@cache
def environment(folder: Path = TEMPLATES) -> Environment:
    """The templates, compiled once and kept in the user's cache folder between runs (Jinja
    checks each one's source and compiles it again when it changed); no cache if unwritable."""
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    bytecode: FileSystemBytecodeCache | None = None
    try:
        (cache_root / "stagecheck" / "templates").mkdir(parents=True, exist_ok=True)
        bytecode = FileSystemBytecodeCache(str(cache_root / "stagecheck" / "templates"))
    except OSError:
        pass
    env = Environment(loader=FileSystemLoader(folder), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "html.j2"]),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      finalize=md_every_field, bytecode_cache=bytecode)
    env.filters.update(cell=md_cell, fence=md_fence, prose=md_prose, md_html=md_html)
    env.globals["scenario_anchor"] = scenario_anchor  # a run report links to the catalog
    return env


def _variables(result: RunResult) -> dict[str, Any]:
    """What the report templates read: the view, and the rows per scenario formatted in Python."""
    view = report_view(result)
    return {**view, "rows": ScenarioRows(view["scenarios"], view["works"])}


def _report(variables: dict[str, Any], fmt: str, catalog_url: str) -> str:
    return environment().get_template(f"report.{fmt}.j2").render(**variables,
                                                                  catalog_url=catalog_url)


def render(result: RunResult, fmt: str, catalog_url: str = "") -> str:
    """The report in one format (a ReportFormat, or its name); with `catalog_url`, report.html
    links each scenario to its entry in the catalog there."""
    if fmt == ReportFormat.JSON:
        return result.to_json()
    if fmt not in set(ReportFormat):
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(ReportFormat)}")
    return _report(_variables(result), fmt, catalog_url)


def render_all(result: RunResult, catalog_url: str = "") -> dict[ReportFormat, str]:
    """Every format, as `render` gives each, from one view of the result."""
    variables = _variables(result)
    return {fmt: result.to_json() if fmt == ReportFormat.JSON
            else _report(variables, fmt, catalog_url) for fmt in ReportFormat}


def render_summary(result: RunResult) -> str:
    """The executive summary alone, in Markdown (for CI job summaries)."""
    return environment().get_template("summary.md.j2").render(**_variables(result))
