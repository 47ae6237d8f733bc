"""Escaping what the reports show: the Markdown filters of the templates (report.md is not
autoescaped), and inline Markdown as safe HTML. Shared by the templates and by the rows formatted
in Python (rows.py), so that both escape alike."""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt
from markupsafe import Markup

from ..client.redact import neutralise

# The catalog's Markdown in HTML: code spans and emphasis only; raw HTML, links and images stay
# text, so a value filled in from the target can neither inject markup nor load anything.
_INLINE_MARKDOWN = MarkdownIt("zero", {"html": False}).enable(["backticks", "emphasis", "escape",
                                                                 "entity"])

_LINE_BREAK = re.compile(r"\s*\n\s*")


def md_cell(value: object) -> Markup:
    """Text safe inside a Markdown table cell: no raw HTML, no column breaks, one line."""
    text = html.escape(neutralise(str(value)), quote=False).replace("|", "\\|")
    return Markup(_LINE_BREAK.sub(" ", text).replace("`", "\\`").replace("{", "&#123;"))


def md_fence(value: object, lang: str = "") -> Markup:
    """A fenced code block that no backtick run in the text can close early."""
    text = neutralise(str(value))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{lang}\n{text}\n{fence}")


def md_prose(value: object) -> Markup:
    """Text safe in a Markdown paragraph: no raw HTML, no template syntax for other tools."""
    return Markup(html.escape(neutralise(str(value)), quote=False).replace("{", "&#123;"))


def md_html(value: object) -> Markup:
    """Inline Markdown (root cause, next steps) as safe HTML for report.html."""
    return Markup(_INLINE_MARKDOWN.renderInline(str(value)))  # markdown-it escapes the text


def md_field(value: object) -> object:
    """A field of report.md as shown: escaped as prose unless a filter made it safe already
    (a Markup), or it is not text."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return md_prose(value)
