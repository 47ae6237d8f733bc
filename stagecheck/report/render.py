"""Rendering the result model with Jinja2: report.md, report.html (self-contained) and JSON."""

from __future__ import annotations

import html
import os
import re
from functools import cache
from pathlib import Path

from jinja2 import (
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    pass_eval_context,
    select_autoescape,
)
from jinja2.nodes import EvalContext
from markdown_it import MarkdownIt
from markupsafe import Markup

from ..client.redact import neutralise
from ..vocabulary import ReportFormat
from .model import RunResult, scenario_anchor
from .view import report_view


def _templates() -> Path:
    """stagecheck/templates in an installed wheel; the checkout's top-level templates/ otherwise."""
    packaged = Path(__file__).resolve().parents[1] / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "templates"


TEMPLATES = _templates()
# The catalog's Markdown in HTML: code spans and emphasis only; raw HTML, links and images stay
# text, so a value filled in from the target can neither inject markup nor load anything.
_INLINE_MARKDOWN = MarkdownIt("zero", {"html": False}).enable(["backticks", "emphasis", "escape",
                                                                 "entity"])


def md_cell(value: object) -> Markup:
    """Text safe inside a Markdown table cell: no raw HTML, no column breaks, one line."""
    text = html.escape(neutralise(str(value)), quote=False).replace("|", "\\|")
    return Markup(re.sub(r"\s*\n\s*", " ", text).replace("`", "\\`").replace("{", "&#123;"))


def md_fence(value: object, lang: str = "") -> Markup:
    """A fenced code block that no backtick run in the text can close early."""
    text = neutralise(str(value))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{lang}\n{text}\n{fence}")


def md_prose(value: object) -> Markup:
    """Text safe in a Markdown paragraph: no raw HTML, no template syntax for other tools."""
    return Markup(html.escape(neutralise(str(value)), quote=False).replace("{", "&#123;"))


@pass_eval_context
def md_every_field(context: EvalContext, value: object) -> object:
    """Every field of report.md escaped as prose unless a filter above made it safe already
    (HTML templates are autoescaped by Jinja instead)."""
    if context.autoescape or isinstance(value, Markup) or not isinstance(value, str):
        return value
    return md_prose(value)


def md_html(value: object) -> Markup:
    """Inline Markdown (root cause, next steps) as safe HTML for report.html."""
    return Markup(_INLINE_MARKDOWN.renderInline(str(value)))  # markdown-it escapes the text


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


def render(result: RunResult, fmt: str, catalog_url: str = "") -> str:
    """The report in one format (a ReportFormat, or its name); with `catalog_url`, report.html
    links each scenario to its entry in the catalog there."""
    if fmt == ReportFormat.JSON:
        return result.to_json()
    if fmt not in set(ReportFormat):
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(ReportFormat)}")
    return environment().get_template(f"report.{fmt}.j2").render(**report_view(result),
                                                                  catalog_url=catalog_url)


def render_summary(result: RunResult) -> str:
    """The executive summary alone, in Markdown (for CI job summaries)."""
    return environment().get_template("summary.md.j2").render(**report_view(result))
