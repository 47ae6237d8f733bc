"""The executive summary, appended to a GitHub Actions job summary when running in one."""

from __future__ import annotations

import os

from ..report.model import RunResult
from ..report.render import render_summary
from .console import say
from .published import Published


def append_job_summary(result: RunResult, report_url: str) -> None:
    """Append the executive summary to a GitHub Actions job summary, when running in one."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as summary:
            summary.write(render_summary(result))
            if report_url:
                summary.write(f"\n[The full report]({report_url})\n")
    except OSError as exc:
        say(f"stagecheck: the job summary could not be written to {target}: {exc.strerror}")


def publish(result: RunResult, published: Published) -> None:
    """The job summary of a run whose reports were written."""
    if published.written:
        append_job_summary(result, published.report_url)
