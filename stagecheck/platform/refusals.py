"""Refusals of a live session: waited for after an accepted handshake, as the platform refuses
(an auth error, then a close), and told apart from a session it serves."""

from __future__ import annotations

import time

from ..config.timeouts import PONG_AFTER_ERROR_S
from ..errors import (
    NoAnswer,
    SessionClosed,
)
from . import contract
from .sessions import SessionAttempt


def wait_for_refusal(attempt: SessionAttempt, timeout: float, *,
                     pong_s: float = PONG_AFTER_ERROR_S) -> None:
    """After an accepted handshake, wait for the platform to close the session (it sends an
    auth error first); stop early once it serves the session. If it stays open after its
    error, a ping tells whether it still answers."""
    session = attempt.session
    if session is None:
        return
    started = time.perf_counter()
    try:
        while not attempt.served:
            left = timeout - (time.perf_counter() - started)
            frame = session.receive_until(lambda _: True, max(left, 0.0),
                                          "close of the refused session")
            kind = str(frame.get("type"))
            if contract.is_error(frame):
                attempt.error = attempt.error or frame
            elif kind not in contract.UNSOLICITED:
                attempt.served.append(kind)
    except SessionClosed:
        attempt.close_code = session.close_code
    except NoAnswer:
        if attempt.error is not None:
            try:
                session.send({"type": "ping"})
                session.receive_until(lambda f: f.get("type") == "pong", min(timeout, pong_s), "pong")
                attempt.answered_after_error = True
            except AssertionError:
                pass
    attempt.waited_s = time.perf_counter() - started
