"""What a user does on the platform (conversations, messages), for every step module that needs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from hamcrest import equal_to, is_not, none

from ..client.http import HttpClient, describe, json_body
from ..config.target import Target
from ..errors import NoAnswer, SessionClosed
from ..vocabulary import Classification
from . import contract
from .checks import expect, expect_json
from .sessions import LiveSession
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


def start_conversation(http: HttpClient, target: Target, user: SignedInUser,
                       title: str = "Release gate check") -> str:
    """Create a thread for the user and return its id."""
    response = http.post(f"{target.backend_url}/api/threads", json_body={"title": title},
                         headers=bearer(user))
    body = expect_json(http.log, response, (200, 201), "starting a conversation should succeed")
    thread_id = contract.identifier(body.get("id") if isinstance(body, dict) else None)
    expect(http.log, thread_id, is_not(none()),
           f"a new conversation should have an id (a string) in id, but "
           f"{describe(response, http.log)}", summary="a new conversation has no usable id",
           classification=Classification.PRODUCT)
    return str(thread_id)


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
    listed = contract.thread_messages(json_body(response, http.log))
    expect(http.log, listed is not None, equal_to(True),
           f"the conversation should list its messages (a list, or one under messages or "
           f"data), but {describe(response, http.log)}",
           summary="a conversation's messages are not listed", classification=Classification.PRODUCT)
    messages = listed or []
    odd = [m for m in messages if not isinstance(m, dict)
           or not isinstance(m.get("content"), str | None)]
    expect(http.log, len(odd), equal_to(0),
           f"every message of a conversation should be an object with its text, a string, in "
           f"content, but {len(odd)} of the {len(messages)} listed were not: "
           f"{describe(response, http.log)}", summary="a conversation's messages are listed in "
           "a shape the contract does not allow", classification=Classification.PRODUCT)
    return [m["content"] for m in messages if isinstance(m.get("content"), str)]


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
