"""The run's and the scenario's state: the only attributes steps read from `context`.

- `context.run` (RunState, set in before_all): settings, target, http client, event loop.
- `context.world` (World, new in every scenario): what the scenario has done so far, one
  record per capability (sessions, chat, agent run).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .. import contract
from .exchanges import ExchangeLog
from .http import HttpClient
from .load import LoadPlan, LoadResult, run_load
from .platform import MessageAnswer
from .record import RunRecorder
from .sessions import LiveSession, SessionAttempt, open_session_async
from .settings import Settings
from .target import Target
from .users import SignedInUser

Track = Callable[[SessionAttempt], SessionAttempt]


@dataclass(frozen=True)
class Welcome:
    """One session's welcome: how long it took, or why it did not come."""

    seconds: float | None = None
    problem: str = ""


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

    async def _open_and_welcome(self, token: str, log: ExchangeLog, track: Track
                                ) -> tuple[SessionAttempt, Welcome]:
        started = time.perf_counter()
        attempt = track(await self.open_session_async(token, log))
        if attempt.session is None:
            return attempt, Welcome(problem=f"handshake refused with {attempt.refused_status}")
        try:
            await attempt.session.receive_until_async(contract.is_welcome,
                                                      self.settings.ws_event_timeout,
                                                      "welcome message")
        except AssertionError as problem:
            return attempt, Welcome(problem=str(problem))
        return attempt, Welcome(seconds=time.perf_counter() - started)

    def open_all_and_welcome(self, tokens: list[str], log: ExchangeLog, track: Track
                             ) -> list[tuple[SessionAttempt, Welcome]]:
        """Open one session per token at the same time, each waiting for its welcome; `track`
        sees every session as soon as it is open, so that it is closed whatever happens."""
        async def all_at_once() -> list[tuple[SessionAttempt, Welcome]]:
            return list(await asyncio.gather(*(self._open_and_welcome(token, log, track)
                                               for token in tokens)))
        return self.loop.run_until_complete(all_at_once())

    def run_load(self, plan: LoadPlan, log: ExchangeLog) -> LoadResult:
        """Locust's run of the plan (scaled by the caller) against the target, as evidence on
        `log`; LoadRunFailed with the cause when Locust is missing, fails or overruns."""
        return run_load(self.settings, self.target, log, self.recorder.run_id, plan)

    def ping_all(self, sessions: list[LiveSession]) -> list[str]:
        """Ping every session at once; the problems of those that did not answer with a pong."""
        timeout = self.settings.ws_event_timeout

        async def ping(session: LiveSession) -> str:
            try:
                await session.send_async({"type": "ping"})
                await session.receive_until_async(lambda f: f.get("type") == "pong", timeout,
                                                  "pong")
            except AssertionError as problem:
                return str(problem)
            return ""

        async def ping_every_one() -> list[str]:
            return list(await asyncio.gather(*(ping(session) for session in sessions)))

        return [problem for problem in self.loop.run_until_complete(ping_every_one()) if problem]


@dataclass
class Sessions:
    """The scenario's live sessions."""

    current: LiveSession | None = None        # the signed-in user's open session
    attempt: SessionAttempt | None = None     # the last attempt that may have been refused
    attempts: list[SessionAttempt] = field(default_factory=list)
    welcomes: list[Welcome] = field(default_factory=list)
    ping_sent_at: float | None = None
    to_close: list[LiveSession] = field(default_factory=list)

    def track(self, attempt: SessionAttempt) -> SessionAttempt:
        """Remember an open session so that it is closed at the end of the scenario."""
        if attempt.session is not None:
            self.to_close.append(attempt.session)
        return attempt


@dataclass
class Chat:
    """The scenario's conversation: its thread, the messages sent, the platform's answers."""

    thread_id: str | None = None
    sent: list[str] = field(default_factory=list)
    answers: list[MessageAnswer] = field(default_factory=list)
    owner_response: httpx.Response | None = None  # the owner reading the conversation back


@dataclass
class AgentRun:
    """The scenario's agent run: its events, how long it took, and why it ended early."""

    events: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float | None = None
    problem: str | None = None
    silent: bool = False  # not a single event came


@dataclass
class World:
    """Set by the When/Given steps, read by the Then steps of the same scenario."""

    log: ExchangeLog
    user: SignedInUser | None = None
    other_user: SignedInUser | None = None
    users: list[SignedInUser] = field(default_factory=list)
    response: httpx.Response | None = None
    finding: str = ""  # the key finding of a passed scenario, in a few words
    measures: dict[str, float] = field(default_factory=dict)  # kept in the history
    sessions: Sessions = field(default_factory=Sessions)
    chat: Chat = field(default_factory=Chat)
    agent_run: AgentRun = field(default_factory=AgentRun)
    load_plan: LoadPlan | None = None   # the load tier: who arrives, how fast (set by Given)
    load: LoadResult | None = None      # what Locust measured (set by When)
