"""What every output is given besides the run's result."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.settings import Settings
from .console import say


@dataclass(frozen=True)
class Published:
    """Where the run's reports went, for the outputs that link to them."""

    settings: Settings
    target_key: str   # the target as the history names it
    written: bool     # the report files were written
    report_url: str   # the published report (-D report_base_url=), "" when not published
    report: str       # the report.html to link: the published one, or its path; "" if none

    @staticmethod
    def say(line: str) -> None:
        say(line)
