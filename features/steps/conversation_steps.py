"""Conversations: messages kept in order, and invisible to other users."""

from behave import given, then, when
from hamcrest import empty, equal_to, has_item, is_in, is_not

from stagecheck.steps import (
    MAIN_USER_EMAIL,
    Classification,
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
        expect(world.log, answer.acknowledged, equal_to(True),
               f"{session.url} should acknowledge the message {text!r}, but answered "
               f"{answer.describe()}", summary="a message was not acknowledged")
        chat.sent.append(text)


def _contents(context):
    run, world = context.run, context.world
    response = conversation_messages(run.http, run.target, world.user, world.chat.thread_id)
    return message_contents(run.http, response)


@then('the conversation contains the message "{text}"')
def step_contains(context, text):
    contents = _contents(context)
    expect(context.world.log, contents, has_item(text),
           f"the message was acknowledged but not stored: the conversation should keep {text!r}, "
           f"but lists {len(contents)} message(s) without it",
           summary="message acknowledged but not stored", classification=Classification.PRODUCT)
    context.world.key_finding = "message acknowledged and kept in its conversation"


@then("the conversation lists the messages in the order they were sent")
def step_in_order(context):
    sent = context.world.chat.sent
    listed = [content for content in _contents(context) if content in sent]
    expect(context.world.log, listed, is_not(empty()),
           f"the messages were acknowledged but not stored: the conversation lists none of the "
           f"{len(sent)} sent", summary="messages acknowledged but not stored",
           classification=Classification.PRODUCT)
    expect(context.world.log, listed, equal_to(sent),
           "the conversation should list the messages oldest first, as they were sent")
    context.world.key_finding = f"{len(sent)} messages listed in the order sent"


@when("each of them asks for the conversation")
def step_both_read(context):
    run, world = context.run, context.world
    world.chat.owner_response = conversation_messages(run.http, run.target, world.user,
                                                      world.chat.thread_id)
    world.response = conversation_messages(run.http, run.target, world.other_user,
                                           world.chat.thread_id)


@then("the first user is shown the conversation")
def step_owner_reads(context):
    log, response = context.world.log, context.world.chat.owner_response
    expect(log, response.status_code, equal_to(200),
           f"the conversation was not stored: its own user should read it back, but "
           f"{describe(response, log)}",
           summary=f"conversation not stored: its own user gets {response.status_code}",
           classification=Classification.PRODUCT)


@then("it is not shown to the other user")
def step_not_shown(context):
    log, response = context.world.log, context.world.response
    expect(log, response.status_code, is_in([403, 404]),
           f"another user's conversation should be refused with 404 or 403, but "
           f"{describe(response, log)}", summary="another user's conversation is shown",
           classification=Classification.PRODUCT)
    context.world.key_finding = (f"owner reads it; another user's request refused with "
                             f"{response.status_code}")
