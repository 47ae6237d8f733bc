"""Agent runs: asked over the API, or over a live session with their progress events awaited."""

from __future__ import annotations

import contextlib
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


def ask_agent_api(http: HttpClient, target: Target, user: SignedInUser, agent: str,
                  message: str) -> httpx.Response:
    """One request to an agent over HTTP: `general` is `POST /api/agents/execute`, any other
    agent its own route (`routes/agents_execute.py`)."""
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
    run_id_values: set[Any] = field(default_factory=set)  # as sent (None when one had none)
    elapsed_s: float | None = None
    first_event_s: float | None = None  # from the request to the run's first event
    problem: str | None = None

    @property
    def silent(self) -> bool:
        """Not a single event came."""
        return self.count == 0

    @property
    def run_ids(self) -> set[str]:
        return {str(value) for value in self.run_id_values}

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
            self.run_id_values.add(frame.get("run_id"))
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
        if opening.get("type") not in contract.AGENT_END_EVENTS:
            left = run_timeout - (time.perf_counter() - started)
            await session.receive_until_async(
                lambda f: run.see(f) and f.get("type") in contract.AGENT_END_EVENTS,
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
