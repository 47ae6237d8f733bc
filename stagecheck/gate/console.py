"""behave's console, about the selection only: behave's own summary reporter, counting the
scenarios the tags, names and locations selected (an unselected feature is neither "skipped"
nor "untested" in it), next to behave's `show_skipped = false` (pyproject.toml), which keeps
the unselected scenarios off the formatters."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from behave.model_core import Status as BehaveStatus
from behave.parser import ParserError
from behave.reporter.summary import SummaryReporter


def selected_scenarios(features: Iterable[Any], config: Any) -> list[Any]:
    """The scenarios (outline rows each) the run's tags, `--name` and `file:line` select."""
    return [scenario for feature in features for scenario in feature.walk_scenarios()
            if scenario.should_run_with_tags(config.tag_expression)
            and scenario.should_run_with_name_select(config)
            and scenario.status != BehaveStatus.skipped]  # behave skips those off file:line


class SelectionSummary(SummaryReporter):
    """behave's summary ("2 features passed, 1 failed…"), counting only what was selected: a
    selected scenario the run never reached is still "untested", an unselected one is left out."""

    def __init__(self, config: Any, selected: Iterable[Any]) -> None:
        super().__init__(config)
        self.selected = {id(scenario) for scenario in selected}

    def _has_selected(self, container: Any) -> bool:
        return any(id(s) in self.selected for s in container.walk_scenarios())

    def process_feature(self, feature: Any) -> None:
        if self._has_selected(feature):
            super().process_feature(feature)

    def process_rule(self, rule: Any) -> None:
        if self._has_selected(rule):
            super().process_rule(rule)

    def process_scenario(self, scenario: Any) -> None:
        if id(scenario) in self.selected:
            super().process_scenario(scenario)


def summarize_selection_only(config: Any, features: Iterable[Any]) -> None:
    """Put `SelectionSummary` where behave's own summary reporter is (none with --no-summary)."""
    selected = selected_scenarios(features, config)
    config.reporters[:] = [SelectionSummary(config, selected) if type(r) is SummaryReporter
                           else r for r in config.reporters]


def parse_failure(exc: ParserError) -> str:
    """behave's ParserError in one line, with one location: `features/x.feature:6: unexpected
    line "Oops"` (behave's own text names the line twice, and spreads over two lines)."""
    message = str(exc.args[0]) if exc.args else "cannot be parsed"
    message, _, reason = message.partition("\nREASON: ")
    message = re.sub(r" at line \d+(: \".*\")?$", "", message.strip())  # behave's annotation
    message = re.sub(r"^Parser failure in state=\w+$", "unexpected line", message)
    message = re.sub(r"^tag: (\S+) \(line: .*\)$", r"not a tag: \1", message)
    text = exc.line_text.strip() if exc.line_text else ""
    where = exc.filename or "a feature file"
    if where.startswith(os.getcwd() + os.sep):
        where = os.path.relpath(where)
    return " ".join(f"{where}:{exc.line}: {message}{f' {text!r}' if text else ''}"
                    f"{f' ({reason.strip()})' if reason else ''}".split())
