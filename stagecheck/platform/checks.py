"""Assertions through PyHamcrest, counted on the scenario's log for the test-quality report."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, TypeVar

import httpx
from hamcrest import assert_that, equal_to, is_in
from hamcrest.core.matcher import Matcher

from ..client.exchanges import ExchangeLog
from ..client.http import describe, json_body
from ..client.redact import excerpt
from ..errors import CheckFailed
from ..vocabulary import Classification

T = TypeVar("T")


def expect(log: ExchangeLog, actual: T, matcher: Matcher[T], reason: str, *, summary: str = "",
           classification: Classification | None = None) -> None:
    """assert_that(actual, matcher, reason), counted; the reason says what was expected of whom.

    A failure raises CheckFailed, carrying `summary` (what broke, in plain words) and
    `classification` when the step knows them. The message is redacted and capped: hamcrest
    prints the actual value, which may be a whole response body with tokens in it."""
    log.checks += 1
    try:
        assert_that(actual, matcher, reason)
    except AssertionError as failure:
        raise CheckFailed(log.redact(excerpt(str(failure), 3000)), log.redact(summary),
                          classification) from None


def json_excerpt(log: ExchangeLog, value: Any, limit: int = 300) -> str:
    """What the target sent, as compact JSON, redacted and capped: the evidence in a message
    about one field or frame (its nesting is bounded when read, so this cannot recurse deep)."""
    return log.redact(excerpt(json.dumps(value, ensure_ascii=False, default=str), limit))


def expect_json(log: ExchangeLog, response: httpx.Response, status: int | Collection[int],
                should: str) -> Any:
    """The answer's JSON body, after checking its status; a failure says what `should` have
    happened, then what the target answered instead."""
    matcher: Matcher[int] = equal_to(status) if isinstance(status, int) else is_in(sorted(status))
    expect(log, response.status_code, matcher, f"{should}, but {describe(response, log)}")
    return json_body(response, log)
