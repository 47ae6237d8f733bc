"""Agent runs: asked over the API, or over a live session with their progress events awaited."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..client.http import HttpClient
from ..config.target import Target
from ..errors import NoAnswer, SessionClosed
from . import contract
from .conversations import bearer
from .sessions import LiveSession
from .users import SignedInUser


@dataclass(frozen=True)
class KnownAnswer:
    """A question asked beside a request whose answer the gate knows and the question does not
    contain: only an agent that ran answers it (the route's canned texts echo the question)."""

    a: int
    b: int

    @property
    def question(self) -> str:
        return f"Also, what is {self.a} plus {self.b}?"

    @property
    def answer(self) -> str:
        return str(self.a + self.b)


def known_answer() -> KnownAnswer:
    """A fresh sum for one request (two different requests never share an answer)."""
    return KnownAnswer(secrets.randbelow(900) + 100, secrets.randbelow(900) + 100)


def canned_answer_problem(response: str, probe: KnownAnswer) -> str:
    """Why an agent's answer shows that no agent ran ("" when it is real): it announces itself
    as a fallback or a mock (agents_execute.py), or it does not answer the known question."""
    if contract.is_canned_agent_answer(response):
        return "it announces itself as a fallback or a mock"
    if probe.answer not in re.findall(r"-?\d+", response):
        return f"it does not answer {probe.question!r} ({probe.answer})"
    return ""


def ask_agent_api(http: HttpClient, target: Target, user: SignedInUser, agent: str,
                  message: str, probe: KnownAnswer | None = None) -> httpx.Response:
    """One request to an agent over HTTP: `general` is `POST /api/agents/execute`, any other
    agent its own route (`routes/agents_execute.py`); with the probe's question asked too.
    Words that switch the platform's test shortcuts are refused: they would fetch a mock."""
    if contract.switches_test_shortcut(message):
        raise ValueError(f"the request {message!r} would switch the platform's test shortcut "
                         "(agents_execute.py answers a mock): reword it")
    if probe is not None:
        message = f"{message} {probe.question}"
    if agent == "general":
        return http.post(f"{target.backend_url}/api/agents/execute", headers=bearer(user),
                         json_body={"type": "general", "message": message})
    return http.post(f"{target.backend_url}/api/agents/{agent}", headers=bearer(user),
                     json_body={"type": agent, "message": message})


MAX_KEPT_EVENTS = 200  # events of one run kept as evidence; every event is counted and typed
MAX_KINDS = 200        # distinct steps of one run's story (a run of repeats counts once)
MAX_RUN_IDS = 16       # run ids told apart (two are enough to tell a mixed run)


@dataclass
class AgentRun:
    """One agent run, taken in event by event (however many it streams, in bounded memory):
    its story, how long it took, and why it ended early."""

    events: list[dict[str, Any]] = field(default_factory=list)  # a sample, and the run's end
    count: int = 0        # every agent event seen
    kinds: list[str] = field(default_factory=list)  # the event types in order, repeats once
    run_id_values: set[str | None] = field(default_factory=set)  # None: an event without one
    elapsed_s: float | None = None
    first_event_s: float | None = None  # from the request to the run's first event
    problem: str | None = None

    @property
    def silent(self) -> bool:
        """Not a single event came."""
        return self.count == 0

    @property
    def run_ids(self) -> set[str]:
        """The runs its events named (an event without a run id names none)."""
        return {value for value in self.run_id_values if value is not None}

    def see(self, frame: dict[str, Any]) -> bool:
        """Take in one frame of the session; True when it is an agent event."""
        if not contract.is_agent_event(frame):
            return False
        self.count += 1
        kind = str(frame.get("type"))
        if not self.kinds or self.kinds[-1] != kind:
            if len(self.kinds) == MAX_KINDS:
                self.kinds[-1] = kind  # the story's middle is lost, never its end
            else:
                self.kinds.append(kind)
        if len(self.run_id_values) < MAX_RUN_IDS:
            self.run_id_values.add(contract.run_id(frame))
        if len(self.events) < MAX_KEPT_EVENTS or (
                kind in contract.AGENT_END_EVENTS and len(self.events) < MAX_KEPT_EVENTS + 8):
            self.events.append(frame)
        return True


def agent_request(request: str, thread_id: str | None = None,
                  agent_type: str | None = None) -> dict[str, Any]:
    """The `start_agent` frame of a request, in a conversation and for an agent when given."""
    payload: dict[str, Any] = {"user_request": request}
    if agent_type is not None:
        payload["agent_type"] = agent_type
    frame: dict[str, Any] = {"type": "start_agent", "payload": payload}
    if thread_id is not None:
        frame["thread_id"] = thread_id
    return frame


async def run_agent_async(session: LiveSession, frame: dict[str, Any], event_timeout: float,
                          run_timeout: float) -> AgentRun:
    """Send one agent request and take in its events until it ends (completed or error); a
    silent or unfinished run is an outcome, judged by the Then steps."""
    run = AgentRun()
    started = time.perf_counter()
    try:
        await session.send_async(frame)
        opening = await session.receive_until_async(run.see, event_timeout,
                                                    "first event of the agent run")
        run.first_event_s = time.perf_counter() - started
        if not contract.is_end_event(opening):
            left = run_timeout - (time.perf_counter() - started)
            await session.receive_until_async(
                lambda f: run.see(f) and contract.is_end_event(f),
                max(left, 0.0), "end of the agent run (agent_completed or agent_error)")
    except NoAnswer as problem:
        run.problem = (f"the agent run was silent: no event within {event_timeout:g} s"
                       if run.silent else str(problem))
    except AssertionError as problem:
        run.problem = str(problem)
    run.elapsed_s = time.perf_counter() - started
    return run


async def stray_agent_events_async(session: LiveSession, quiet_s: float, run: AgentRun) -> None:
    """Take into `run` the agent events that still arrive within `quiet_s` (none, on a correct
    platform)."""
    with contextlib.suppress(NoAnswer, SessionClosed):
        await session.receive_until_async(lambda f: run.see(f) and False, quiet_s,
                                          "stray agent events")
