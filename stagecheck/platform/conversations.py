"""What a user does on the platform (conversations, messages), for every step module that needs it."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from hamcrest import equal_to, has_key

from .. import contract
from ..errors import NoAnswer, SessionClosed
from ..vocabulary import Classification
from .checks import expect, expect_json
from .http import HttpClient, describe, json_body
from .sessions import LiveSession
from .target import Target
from .users import SignedInUser


def bearer(user: SignedInUser | str) -> dict[str, str]:
    """The Authorization header of a user, or of a bare token."""
    return {"Authorization": f"Bearer {user if isinstance(user, str) else user.token}"}


def list_conversations(http: HttpClient, target: Target, token: str) -> httpx.Response:
    return http.get(f"{target.backend_url}/api/threads", headers=bearer(token))


def sign_out(http: HttpClient, target: Target, user: SignedInUser) -> None:
    """Sign the user's token out at the auth service (`POST /auth/logout`)."""
    response = http.post(f"{target.auth_url}/auth/logout", headers=bearer(user))
    expect_json(http.log, response, 200, "signing out should succeed")


def ask_agent_api(http: HttpClient, target: Target, user: SignedInUser, agent: str,
                  message: str) -> httpx.Response:
    """One request to an agent over HTTP: `general` is `POST /api/agents/execute`, any other
    agent its own route (`routes/agents_execute.py`)."""
    if agent == "general":
        return http.post(f"{target.backend_url}/api/agents/execute", headers=bearer(user),
                         json_body={"type": "general", "message": message})
    return http.post(f"{target.backend_url}/api/agents/{agent}", headers=bearer(user),
                     json_body={"type": agent, "message": message})


def start_conversation(http: HttpClient, target: Target, user: SignedInUser,
                       title: str = "Release gate check") -> str:
    """Create a thread for the user and return its id."""
    response = http.post(f"{target.backend_url}/api/threads", json_body={"title": title},
                         headers=bearer(user))
    body = expect_json(http.log, response, (200, 201), "starting a conversation should succeed")
    expect(http.log, body, has_key("id"),
           f"a new conversation should have an id, but {describe(response, http.log)}")
    return str(body["id"])


def conversation_messages(http: HttpClient, target: Target, user: SignedInUser,
                          thread_id: str) -> httpx.Response:
    return http.get(f"{target.backend_url}/api/threads/{thread_id}/messages", headers=bearer(user))


def message_contents(http: HttpClient, response: httpx.Response) -> list[str]:
    """The contents of a thread's messages, oldest first as listed; asserts the shape."""
    missing = response.status_code == 404  # the owner's own conversation: it was never stored
    expect(http.log, response.status_code, equal_to(200),
           f"the conversation should be readable by its owner, but {describe(response, http.log)}",
           summary="conversation not stored: its own user gets 404" if missing else "",
           classification=Classification.PRODUCT if missing else None)
    messages = contract.thread_messages(json_body(response, http.log))
    expect(http.log, messages is not None, equal_to(True),
           f"the conversation should list its messages, but {describe(response, http.log)}")
    return [str(m.get("content")) for m in messages or [] if isinstance(m, dict)]


@dataclass(frozen=True)
class MessageAnswer:
    """The platform's answer to a user message: its frame, or why none came."""

    frame: dict[str, Any] | None
    problem: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.frame is not None and contract.is_acknowledgement(self.frame)

    def describe(self) -> str:
        """What the platform answered, in words."""
        if self.frame is None:
            return self.problem
        details = " ".join(str(v) for v in (contract.error_code(self.frame),
                                            self.frame.get("message")) if v)
        return f"{self.frame.get('type')!r} {details}".strip()


@dataclass
class AgentRun:
    """One agent run: its events, how long it took, and why it ended early."""

    events: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float | None = None
    first_event_s: float | None = None  # from the request to the run's first event
    problem: str | None = None
    silent: bool = False  # not a single event came

    @property
    def kinds(self) -> list[str]:
        return contract.collapse_repeats([str(f.get("type")) for f in self.events])

    @property
    def run_ids(self) -> set[str]:
        return {str(f.get("run_id")) for f in self.events}


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
    """Send one agent request and collect its events until it ends (completed or error); a
    silent or unfinished run is an outcome, judged by the Then steps."""
    run, first = AgentRun(), len(session.received)
    started = time.perf_counter()
    try:
        await session.send_async(frame)
        opening = await session.receive_until_async(contract.is_agent_event, event_timeout,
                                                    "first event of the agent run")
        run.first_event_s = time.perf_counter() - started
        if opening.get("type") not in contract.AGENT_END_EVENTS:
            left = run_timeout - (time.perf_counter() - started)
            await session.receive_until_async(
                lambda f: f.get("type") in contract.AGENT_END_EVENTS, max(left, 0.0),
                "end of the agent run (agent_completed or agent_error)")
    except NoAnswer as problem:
        run.silent = not any(contract.is_agent_event(f) for f in session.received[first:])
        run.problem = (f"the agent run was silent: no event within {event_timeout:g} s"
                       if run.silent else str(problem))
    except AssertionError as problem:
        run.problem = str(problem)
    run.elapsed_s = time.perf_counter() - started
    run.events = [f for f in session.received[first:] if contract.is_agent_event(f)]
    return run


async def stray_agent_events_async(session: LiveSession, quiet_s: float) -> list[dict[str, Any]]:
    """Agent events that still arrive within `quiet_s` (none, on a correct platform)."""
    first = len(session.received)
    with contextlib.suppress(NoAnswer, SessionClosed):
        await session.receive_until_async(lambda _: False, quiet_s, "stray agent events")
    return [f for f in session.received[first:] if contract.is_agent_event(f)]


def send_user_message(session: LiveSession, thread_id: str | None, text: str,
                      timeout: float) -> MessageAnswer:
    """Send a chat message and wait for the platform's answer to it (an acknowledgement or an
    error); other frames are kept, never taken for it. A closed or silent session is an
    answer too, judged by the Then steps."""
    payload: dict[str, Any] = {"content": text}
    if thread_id is not None:
        payload["thread_id"] = thread_id
    try:
        session.send({"type": contract.USER_MESSAGE, "payload": payload})
        return MessageAnswer(session.receive_until(contract.is_answer_to_message, timeout,
                                                   "acknowledgement of the message"))
    except (NoAnswer, SessionClosed) as problem:
        return MessageAnswer(None, f"nothing: {problem}")
