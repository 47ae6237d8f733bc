"""What a finished run leaves behind, one module per output: the report files and `latest`
(`reports`), verdict.json (`verdict`), and after them the outputs in `OUTPUTS`, which the end of
a whole run (not a shard's, not a part's) walks in order: the job summary, the textfile-collector
metrics, the notifications. A new output is a module with a `publish(result, published)` that
says its own failure in one line and never fails the run, named in `OUTPUTS`."""

from __future__ import annotations

from collections.abc import Callable

from ..report.model import RunResult
from . import metrics, notify, summary
from .published import Published

OUTPUTS: tuple[Callable[[RunResult, Published], None], ...] = (
    summary.publish, metrics.publish, notify.publish)


def publish_outputs(result: RunResult, published: Published) -> None:
    """Every output of `OUTPUTS`, in order, for a run whose reports were written: one whose
    reports could not be is not judged (exit 2), and no output may speak its verdict."""
    if not published.written:
        return
    for output in OUTPUTS:
        output(result, published)
