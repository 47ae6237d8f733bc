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
    select_autoescape,
)

from .model import RunResult
from .view import report_view

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
FORMATS = ("md", "html", "json")


def md_cell(value: object) -> str:
    """Text safe inside a Markdown table cell: no raw HTML, no column breaks, one line."""
    text = html.escape(str(value), quote=False).replace("|", "\\|")
    return re.sub(r"\s*\n\s*", " ", text).replace("`", "\\`").replace("{", "&#123;")


def md_fence(value: object, lang: str = "") -> str:
    """A fenced code block that no backtick run in the text can close early."""
    text = str(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def md_prose(value: object) -> str:
    """Text safe in a Markdown paragraph: no raw HTML, no template syntax for other tools."""
    return html.escape(str(value), quote=False).replace("{", "&#123;")


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
                      bytecode_cache=bytecode)
    env.filters.update(cell=md_cell, fence=md_fence, prose=md_prose)
    return env


def render(result: RunResult, fmt: str) -> str:
    if fmt == "json":
        return result.to_json()
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
    return environment().get_template(f"report.{fmt}.j2").render(**report_view(result))
