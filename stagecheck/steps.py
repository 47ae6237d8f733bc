"""The public surface for step modules: everything a step in `features/steps/` may use.

Steps parse their arguments, call these, and assert with `expect`; they import nothing else
from stagecheck (as httpx's users import from `httpx`, never from its private modules).
"""

from __future__ import annotations

from . import contract
from .errors import LoadRunFailed, NeedsBypassKey, NoAnswer, SessionClosed
from .run.checks import expect, expect_json
from .run.http import describe, elapsed_s, json_body
from .run.load import LoadPlan
from .run.platform import (
    bearer,
    conversation_messages,
    message_contents,
    send_user_message,
    start_conversation,
)
from .run.sessions import wait_for_refusal
from .run.users import (
    MAIN_USER_EMAIL,
    OTHER_USER_EMAIL,
    forged_token,
    numbered_user_email,
    sign_in_url,
    signed_in_user,
)
from .vocabulary import Classification

__all__ = [
    "MAIN_USER_EMAIL",
    "OTHER_USER_EMAIL",
    "Classification",
    "LoadPlan",
    "LoadRunFailed",
    "NeedsBypassKey",
    "NoAnswer",
    "SessionClosed",
    "bearer",
    "contract",
    "conversation_messages",
    "describe",
    "elapsed_s",
    "expect",
    "expect_json",
    "forged_token",
    "json_body",
    "message_contents",
    "numbered_user_email",
    "send_user_message",
    "sign_in_url",
    "signed_in_user",
    "start_conversation",
    "wait_for_refusal",
]
