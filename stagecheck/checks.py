"""Assertions through PyHamcrest, counted on the scenario's log for the test-quality report."""

from __future__ import annotations

from typing import Any, TypeVar

from hamcrest import assert_that
from hamcrest.core.matcher import Matcher

from .exchanges import ExchangeLog

T = TypeVar("T")


def expect(log: ExchangeLog, actual: T, matcher: Matcher[T], reason: str) -> None:
    """assert_that(actual, matcher, reason), counted; the reason says what was expected of whom."""
    log.assertions += 1
    assert_that(actual, matcher, reason)
