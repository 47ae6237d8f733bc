"""The console: one line of ours, on the real console whatever behave captures."""

from __future__ import annotations

import sys


def say(line: str) -> None:
    """One line on the real console, whatever behave captures."""
    print(line, file=sys.__stderr__ or sys.stderr, flush=True)
