"""The run's and the scenario's state: the only attributes steps read from `context`.

- `context.run` (RunState, set in before_all): settings, target, http client, event loop.
- `context.world` (World, new in every scenario): what the scenario has done so far.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from .collect import RunRecorder
from .config import Settings
from .exchanges import ExchangeLog
from .http_client import HttpClient
from .sessions import LiveSession, SessionAttempt, open_session_async
from .target import Target
from .users import SignedInUser


@dataclass
class RunState:
    settings: Settings
    target: Target
    http: HttpClient
    loop: asyncio.AbstractEventLoop
    recorder: RunRecorder

    async def open_session_async(self, token: str | None, log: ExchangeLog) -> SessionAttempt:
        """A live session at the target's WebSocket URL, with the run's timeouts and TLS."""
        return await open_session_async(self.target.ws_url, token, log, self.loop,
                                        self.settings.connect_timeout,
                                        verify_tls=not self.settings.insecure_tls)

    def open_session(self, token: str | None, log: ExchangeLog) -> SessionAttempt:
        return self.loop.run_until_complete(self.open_session_async(token, log))


@dataclass
class World:
    """Set by the When/Given steps, read by the Then steps of the same scenario."""

    log: ExchangeLog
    user: SignedInUser | None = None
    other_user: SignedInUser | None = None
    users: list[SignedInUser] = field(default_factory=list)
    session: LiveSession | None = None
    attempt: SessionAttempt | None = None
    attempts: list[SessionAttempt] = field(default_factory=list)
    welcome_times: list[float | str] = field(default_factory=list)
    ping_sent_at: float | None = None
    finding: str = ""  # the key finding of a passed scenario, in a few words
    response: httpx.Response | None = None
    thread_id: str | None = None
    sent_messages: list[str] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    run_events: list[dict[str, Any]] = field(default_factory=list)
    run_elapsed_s: float | None = None
    run_problem: str | None = None
    sessions_to_close: list[LiveSession] = field(default_factory=list)

    def track(self, attempt: SessionAttempt) -> SessionAttempt:
        """Remember an open session so that it is closed at the end of the scenario."""
        if attempt.session is not None:
            self.sessions_to_close.append(attempt.session)
        return attempt
