"""The public surface for step modules: everything a step in `features/steps/` may use.

Steps parse their arguments, call these, and assert with `expect`; they import nothing else
from stagecheck (as httpx's users import from `httpx`, never from its private modules).
"""

from __future__ import annotations

from .client.http import describe, elapsed_s, json_body
from .errors import LoadRunFailed, NeedsBypassKey, NoAnswer, SessionClosed
from .load.plan import LoadPlan
from .platform import contract
from .platform.agents import agent_request, ask_agent_api, canned_answer_problem, known_answer
from .platform.checks import expect, expect_json, json_excerpt
from .platform.controls import (
    conversations_serve,
    key_accepted_by_api,
    key_accepted_by_sessions,
    sessions_serve,
)
from .platform.conversations import (
    bearer,
    conversation_messages,
    list_conversations,
    message_contents,
    send_user_message,
    sign_out,
    start_conversation,
)
from .platform.measure import percentile_95
from .platform.refusals import wait_for_refusal
from .platform.users import (
    MAIN_USER_EMAIL,
    OTHER_USER_EMAIL,
    expired_token,
    forged_token,
    fresh_token,
    numbered_user_email,
    sign_in_url,
    signed_in_user,
    signed_in_users,
)
from .run.world import degrade, environment_kept
from .vocabulary import Classification
from .wording import duration, plural

__all__ = [
    "MAIN_USER_EMAIL",
    "OTHER_USER_EMAIL",
    "Classification",
    "LoadPlan",
    "LoadRunFailed",
    "NeedsBypassKey",
    "NoAnswer",
    "SessionClosed",
    "agent_request",
    "ask_agent_api",
    "bearer",
    "canned_answer_problem",
    "contract",
    "conversation_messages",
    "conversations_serve",
    "degrade",
    "describe",
    "duration",
    "elapsed_s",
    "environment_kept",
    "expect",
    "expect_json",
    "expired_token",
    "forged_token",
    "fresh_token",
    "json_body",
    "json_excerpt",
    "key_accepted_by_api",
    "key_accepted_by_sessions",
    "known_answer",
    "list_conversations",
    "message_contents",
    "numbered_user_email",
    "percentile_95",
    "plural",
    "send_user_message",
    "sessions_serve",
    "sign_in_url",
    "sign_out",
    "signed_in_user",
    "signed_in_users",
    "start_conversation",
    "wait_for_refusal",
]
