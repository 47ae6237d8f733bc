"""What a user does on the platform (conversations, messages), for every step module that needs it."""

from __future__ import annotations

from typing import Any

import httpx
from hamcrest import equal_to, has_key

from .. import contract
from .checks import expect, expect_json
from .http import HttpClient, describe
from .sessions import LiveSession
from .target import Target
from .users import SignedInUser


def bearer(user: SignedInUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


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
    body = expect_json(http.log, response, 200, "the conversation should be readable by its owner")
    messages = contract.thread_messages(body)
    expect(http.log, messages is not None, equal_to(True),
           f"the conversation should list its messages, but {describe(response, http.log)}")
    return [str(m.get("content")) for m in messages or [] if isinstance(m, dict)]


def send_user_message(session: LiveSession, thread_id: str | None, text: str,
                      timeout: float) -> dict[str, Any]:
    """Send a chat message and return the platform's answer to it (ack or error)."""
    payload: dict[str, Any] = {"content": text}
    if thread_id is not None:
        payload["thread_id"] = thread_id
    session.send({"type": contract.USER_MESSAGE, "payload": payload})
    return session.receive_until(lambda f: f.get("type") in ("ack", "error_message"), timeout,
                                 "acknowledgement of the message")
