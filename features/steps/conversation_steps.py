"""Conversations: messages kept in order, and invisible to other users."""

from behave import given, then, when
from hamcrest import equal_to, has_item, is_in

from stagecheck.steps import (
    MAIN_USER_EMAIL,
    conversation_messages,
    describe,
    expect,
    message_contents,
    send_user_message,
    signed_in_user,
    start_conversation,
)


@given("the user has started a conversation")
def step_started_conversation(context):
    run = context.run
    context.world.chat.thread_id = start_conversation(run.http, run.target, context.world.user)


@given("a signed-in user who has started a conversation")
def step_user_with_conversation(context):
    run, world = context.run, context.world
    world.user = signed_in_user(run.http, run.target, MAIN_USER_EMAIL)
    world.chat.thread_id = start_conversation(run.http, run.target, world.user)


@when("the user sends the messages:")
def step_send_messages(context):
    world, timeout = context.world, context.run.settings.ws_event_timeout
    session, chat = world.sessions.current, world.chat
    for row in context.table:
        text = row["message"]
        answer = send_user_message(session, chat.thread_id, text, timeout)
        expect(world.log, answer.get("type"), equal_to("ack"),
               f"{session.url} should acknowledge the message {text!r}, but answered "
               f"{answer.get('type')!r} {answer.get('code') or ''}")
        chat.sent.append(text)


def _contents(context):
    run, world = context.run, context.world
    response = conversation_messages(run.http, run.target, world.user, world.chat.thread_id)
    return message_contents(run.http, response)


@then('the conversation contains the message "{text}"')
def step_contains(context, text):
    expect(context.world.log, _contents(context), has_item(text),
           f"the conversation should keep the message {text!r}")
    context.world.finding = "message acknowledged and kept in its conversation"


@then("the conversation lists the messages in the order they were sent")
def step_in_order(context):
    sent = context.world.chat.sent
    listed = [content for content in _contents(context) if content in sent]
    expect(context.world.log, listed, equal_to(sent),
           "the conversation should list the messages oldest first, as they were sent")
    context.world.finding = f"{len(sent)} messages listed in the order sent"


@when("the other user asks for the first user's conversation")
def step_other_user_reads(context):
    run, world = context.run, context.world
    world.response = conversation_messages(run.http, run.target, world.other_user,
                                           world.chat.thread_id)


@then("the conversation is not shown to the other user")
def step_not_shown(context):
    log, response = context.world.log, context.world.response
    expect(log, response.status_code, is_in([403, 404]),
           f"another user's conversation should be refused with 404 or 403, but "
           f"{describe(response, log)}")
    context.world.finding = f"another user's conversation refused with {response.status_code}"
