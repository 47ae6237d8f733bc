"""Assertions through PyHamcrest, counted on the scenario's log for the test-quality report."""

from __future__ import annotations

from typing import TypeVar

from hamcrest import assert_that
from hamcrest.core.matcher import Matcher

from .exchanges import ExchangeLog, excerpt

T = TypeVar("T")


def expect(log: ExchangeLog, actual: T, matcher: Matcher[T], reason: str) -> None:
    """assert_that(actual, matcher, reason), counted; the reason says what was expected of whom.

    The message is redacted and capped: hamcrest prints the actual value, which may be a whole
    response body with tokens in it."""
    log.assertions += 1
    try:
        assert_that(actual, matcher, reason)
    except AssertionError as failure:
        raise AssertionError(log.redact(excerpt(str(failure), 3000))) from None
