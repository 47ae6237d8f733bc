"""Throttling: an answer 429 (or 503 with Retry-After) is tried again within a small budget,
as its Retry-After asks, and then named as the target's rate limit, never as a product
answer or a refusal."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from http import HTTPStatus

from ..errors import Throttled
from ..wording import plural

MAX_TRIES = 3               # tries of one exchange in all, the first included
MAX_RETRY_WAIT_S = 5.0      # a longer Retry-After is not waited for: the gate names it at once
DEFAULT_RETRY_WAIT_S = 1.0  # when a 429 says nothing of when to come back


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (delay-seconds or an HTTP date); None when absent or unreadable."""
    value = (headers.get("retry-after") or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def throttles(status: int, headers: Mapping[str, str], handshake: bool = False) -> bool:
    """429 always; 503 when it says when to come back (else it is the product's answer, as a
    health check's 503), and on a WebSocket handshake, where no 503 is in the contract."""
    return status == 429 or (status == 503 and (handshake or retry_after(headers) is not None))


def wait_before_retry(headers: Mapping[str, str], tries: int, left_s: float) -> float | None:
    """Seconds to wait before the next try, or None when the gate should stop trying: the
    tries are spent, or Retry-After asks longer than MAX_RETRY_WAIT_S or the time left."""
    if tries >= MAX_TRIES:
        return None
    wait = retry_after(headers)
    wait = DEFAULT_RETRY_WAIT_S if wait is None else wait
    return wait if wait <= MAX_RETRY_WAIT_S and wait < left_s else None


def throttled(status: int, headers: Mapping[str, str], where: str, tries: int) -> Throttled:
    """The sentence: which status, what Retry-After asked, where, after how many tries."""
    try:
        phrase = f" {HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    wait = retry_after(headers)
    asked = f"Retry-After {wait:.0f} s" if wait is not None else "no Retry-After"
    return Throttled(f"the target throttled the gate ({status}{phrase}, {asked}) at {where} "
                     f"after {plural(tries, 'try', 'tries')}: its rate limit, not the product, "
                     "stopped the check; run the gate again later or raise the target's limit "
                     "for the gate")
