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

from ..client.descriptors import out_of_descriptors, out_of_descriptors_problem
from ..client.exchanges import ExchangeLog
from ..client.http import HttpClient
from ..config.settings import Settings
from ..config.target import Target
from ..errors import Throttled
from ..load.plan import LoadPlan, LoadResult, run_load
from ..platform import contract
from ..platform.agents import AgentRun, KnownAnswer, run_agent_async, stray_agent_events_async
from ..platform.conversations import MessageAnswer
from ..platform.sessions import LiveSession, SessionAttempt, open_session_async
from ..platform.users import SignedInUser
from ..vocabulary import Classification
from .record import RunRecorder

Track = Callable[[SessionAttempt], SessionAttempt]


@dataclass(frozen=True)
class WelcomeWait:
    """One session's welcome: how long it took, or why it did not come."""

    seconds: float | None = None
    problem: str = ""
    blame: Classification | None = None  # whose the missing welcome is, when the cause says so
    machine: bool = False  # this machine ran out of descriptors: nothing near it can be trusted
    throttled: bool = False  # the target's rate limit turned the session away


def environment_kept(waits: list[WelcomeWait]) -> bool:
    """Whether the environment kept these welcomes from coming: this machine ran out of
    descriptors for any of them; or each missing one failed for a cause of the environment's,
    and either all were throttled (a rate limit) or none was welcomed at all (the endpoint out
    of reach). A target that welcomed some and then reset or refused the rest fell over: its own."""
    missing = [wait for wait in waits if wait.problem]
    if any(wait.machine for wait in missing):
        return True
    if not missing or any(wait.blame != Classification.ENVIRONMENT for wait in missing):
        return False
    return all(wait.throttled for wait in missing) or all(wait.seconds is None for wait in waits)


@dataclass
class RunState:
    settings: Settings
    target: Target
    http: HttpClient
    loop: asyncio.AbstractEventLoop
    recorder: RunRecorder
    version_at_start: str = ""  # the build the target named when the run began ("" if none)

    async def open_session_async(self, token: str | None, log: ExchangeLog,
                                 extra_headers: dict[str, str] | None = None) -> SessionAttempt:
        """A live session at the target's WebSocket URL, with the run's timeouts and TLS."""
        return await open_session_async(self.target.ws_url, token, log, self.loop,
                                        self.settings.connect_timeout,
                                        verify_tls=not self.settings.insecure_tls,
                                        extra_headers=extra_headers)

    def open_session(self, token: str | None, log: ExchangeLog,
                     extra_headers: dict[str, str] | None = None) -> SessionAttempt:
        return self.loop.run_until_complete(self.open_session_async(token, log, extra_headers))

    def run_agent(self, session: LiveSession, frame: dict[str, Any]) -> AgentRun:
        """One agent run on the session, with the run's event and completion timeouts."""
        return self.loop.run_until_complete(run_agent_async(
            session, frame, self.settings.ws_event_timeout, self.settings.agent_timeout))

    def run_agents_at_once(self, sessions: list[LiveSession], frames: list[dict[str, Any]],
                           quiet_s: float = 0.5) -> list[AgentRun]:
        """One run per session, all started together; once all have ended, each session's run
        also takes in the agent events that still arrive within `quiet_s` (another's, if any)."""
        async def all_at_once() -> list[AgentRun]:
            runs = list(await asyncio.gather(*(
                run_agent_async(session, frame, self.settings.ws_event_timeout,
                                self.settings.agent_timeout)
                for session, frame in zip(sessions, frames, strict=True))))
            await asyncio.gather(*(stray_agent_events_async(session, quiet_s, run)
                                   for session, run in zip(sessions, runs, strict=True)))
            return runs
        return self.loop.run_until_complete(all_at_once())

    def welcome_times(self, token: str, log: ExchangeLog, count: int) -> tuple[list[float], list[str]]:
        """Open `count` sessions one after another, each closed once welcomed: the seconds from
        opening to welcome, and the problems of those that were not welcomed."""
        async def one() -> tuple[float | None, str]:
            started = time.perf_counter()
            attempt = await self.open_session_async(token, log)
            if attempt.session is None:
                return None, f"handshake refused with {attempt.refused_status}"
            try:
                await attempt.session.receive_until_async(contract.is_welcome,
                                                          self.settings.ws_event_timeout,
                                                          "welcome message")
                return time.perf_counter() - started, ""
            except AssertionError as problem:
                return None, str(problem)
            finally:
                await attempt.session.close_async()

        samples, problems = [], []
        for _ in range(count):
            seconds, problem = self.loop.run_until_complete(one())
            if seconds is not None:
                samples.append(seconds)
            if problem:
                problems.append(problem)
        return samples, problems

    async def _open_and_welcome(self, token: str, log: ExchangeLog, track: Track
                                ) -> tuple[SessionAttempt, WelcomeWait]:
        started = time.perf_counter()
        try:
            attempt = track(await self.open_session_async(token, log))
        except (AssertionError, OSError) as problem:  # every session ends here, none pending
            return SessionAttempt(), _missing(problem)
        if attempt.session is None:
            return attempt, WelcomeWait(problem=f"handshake refused with {attempt.refused_status}",
                                        blame=Classification.PRODUCT)
        try:
            await attempt.session.receive_until_async(contract.is_welcome,
                                                      self.settings.ws_event_timeout,
                                                      "welcome message")
        except (AssertionError, OSError) as problem:
            return attempt, _missing(problem)
        return attempt, WelcomeWait(seconds=time.perf_counter() - started)

    def open_all_and_welcome(self, tokens: list[str], log: ExchangeLog, track: Track
                             ) -> list[tuple[SessionAttempt, WelcomeWait]]:
        """Open one session per token at the same time, each waiting for its welcome; `track`
        sees every session as soon as it is open, so that it is closed whatever happens."""
        async def all_at_once() -> list[tuple[SessionAttempt, WelcomeWait]]:
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


def _missing(exc: BaseException) -> WelcomeWait:
    """A welcome that did not come because of `exc`, with the blame its kind carries (a network
    failure, throttling or no descriptors left: the environment's)."""
    if out_of_descriptors(exc):
        return WelcomeWait(problem=out_of_descriptors_problem(), blame=Classification.ENVIRONMENT,
                           machine=True)
    return WelcomeWait(problem=str(exc), blame=getattr(exc, "classification", None),
                       throttled=isinstance(exc, Throttled))


@dataclass
class Sessions:
    """The scenario's live sessions."""

    current: LiveSession | None = None        # the signed-in user's open session
    attempt: SessionAttempt | None = None     # the last attempt that may have been refused
    attempts: list[SessionAttempt] = field(default_factory=list)
    welcomes: list[WelcomeWait] = field(default_factory=list)
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
class Latency:
    """Samples of one latency as a user feels it: what was timed, the seconds, and the samples
    that never came (why)."""

    what: str = ""
    samples: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    environment: bool = False  # the environment kept the missing samples from coming


@dataclass
class World:
    """Set by the When/Given steps, read by the Then steps of the same scenario."""

    log: ExchangeLog
    user: SignedInUser | None = None
    other_user: SignedInUser | None = None
    users: list[SignedInUser] = field(default_factory=list)
    response: httpx.Response | None = None
    agent_probe: KnownAnswer | None = None  # the known question asked beside an agent request
    responses: list[httpx.Response] = field(default_factory=list)  # several answers to judge
    key_finding: str = ""  # the key finding of a passed scenario, in a few words
    measures: dict[str, float] = field(default_factory=dict)  # kept in the history
    sessions: Sessions = field(default_factory=Sessions)
    chat: Chat = field(default_factory=Chat)
    agent_run: AgentRun = field(default_factory=AgentRun)
    agent_runs: list[AgentRun] = field(default_factory=list)  # runs of several users, or in turn
    latency: Latency = field(default_factory=Latency)
    degraded: list[str] = field(default_factory=list)  # set only through degrade()
    load_plan: LoadPlan | None = None   # the load tier: who arrives, how fast (set by Given)
    load: LoadResult | None = None      # what Locust measured (set by When)


def degrade(world: World, reason: str) -> None:
    """Mark the scenario degraded (over a soft budget, within the hard one): it is reported
    apart from failures, and the verdict cannot be GO."""
    world.degraded.append(reason)
