"""Data integrity: messages kept across reconnects, exactly as written, once and in order; new
conversations listed."""

from behave import then, when
from hamcrest import empty, equal_to, has_item, is_, is_not, none

from stagecheck.steps import (
    Classification,
    contract,
    conversation_messages,
    describe,
    expect,
    expect_json,
    list_conversations,
    message_contents,
    send_user_message,
    start_conversation,
)


def _contents(context):
    run, world = context.run, context.world
    response = conversation_messages(run.http, run.target, world.user, world.chat.thread_id)
    return message_contents(run.http, response)


def _shown(text, limit=60):
    return repr(text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)")


@when("the user reconnects")
def step_reconnect(context):
    world, run = context.world, context.run
    world.sessions.current.close()
    attempt = world.sessions.track(run.open_session(world.user.token, world.log))
    expect(world.log, attempt.refused_status, is_(None),
           f"{run.target.ws_url} should open a live session again, but refused the handshake "
           f"with {attempt.refused_status}")
    world.sessions.current = attempt.session
    world.sessions.current.receive_until(contract.is_welcome, run.settings.ws_event_timeout,
                                         "welcome message")


@then("the conversation lists every message sent")
def step_lists_every_message(context):
    sent, contents = context.world.chat.sent, _contents(context)
    missing = [text for text in sent if text not in contents]
    expect(context.world.log, missing, equal_to([]),
           f"the conversation should keep every message sent, but lists {len(contents)} and "
           f"misses {missing}", summary=f"{len(missing)} message(s) lost across a reconnect",
           classification=Classification.PRODUCT)
    context.world.key_finding = f"all {len(sent)} messages kept across the reconnect"


@when("the user sends a message of {size:d} KB")
def step_send_sized(context, size):
    world = context.world
    line = "The release gate checks that a long message comes back whole. "
    text = (line * (size * 1024 // len(line) + 1))[:size * 1024 - 4] + " end"
    world.chat.sent.append(text)
    world.chat.answers.append(send_user_message(world.sessions.current, world.chat.thread_id, text,
                                                context.run.settings.ws_event_timeout))


@then("the platform acknowledges the whole message")
def step_acknowledges_whole(context):
    world = context.world
    text, answer = world.chat.sent[-1], world.chat.answers[-1]
    size = len(text.encode("utf-8"))
    limit = (f"; at {size:,} bytes it is over the {contract.FRAME_LIMIT_BYTES:,}-byte frame "
             "limit of the platform's live sessions, which drop such a message without a word"
             if size > contract.FRAME_LIMIT_BYTES else "")
    expect(world.log, answer.acknowledged, equal_to(True),
           f"the platform should acknowledge a {size:,}-byte message, but answered "
           f"{answer.describe()}{limit}",
           summary=f"a {size:,}-byte message was dropped unanswered" if limit
           else "message not acknowledged", classification=Classification.PRODUCT)


@then("the conversation returns the message exactly as it was sent")
def step_exact(context):
    text, contents = context.world.chat.sent[-1], _contents(context)
    others = [_shown(c) for c in contents if c != text]
    expect(context.world.log, contents, has_item(text),
           f"the conversation should return {_shown(text)} exactly, but lists "
           f"{', '.join(others) or 'no message'}",
           summary="a message came back altered" if contents else "the message was not stored",
           classification=Classification.PRODUCT)
    context.world.key_finding = f"{len(text)} characters came back exactly"


@then("the conversation lists each message once, in the order sent")
def step_once_in_order(context):
    sent = context.world.chat.sent
    listed = [content for content in _contents(context) if content in sent]
    expect(context.world.log, listed, equal_to(sent),
           f"the conversation should list the {len(sent)} messages once each, oldest first, "
           f"but listed {len(listed)}", summary=(
               f"messages listed more than once ({len(listed)} for {len(sent)} sent)"
               if len(listed) > len(sent) else "messages missing or out of order"),
           classification=Classification.PRODUCT)
    context.world.key_finding = f"{len(sent)} messages, each once, in order"


@when('the user starts a conversation titled "{title}"')
def step_start_titled(context, title):
    run = context.run
    context.world.chat.thread_id = start_conversation(run.http, run.target, context.world.user,
                                                      title)


@then('the user\'s conversations include "{title}"')
def step_list_includes(context, title):
    run, world = context.run, context.world
    response = list_conversations(run.http, run.target, world.user.token)
    body = expect_json(world.log, response, 200, "the user's conversations should be listed")
    threads = contract.conversations(body)
    expect(world.log, threads, is_not(none()),
           f"the user's conversations should come as a list (or under threads or data), but "
           f"{describe(response, world.log)}", summary="the conversation list is not a list",
           classification=Classification.PRODUCT)
    ids = [str(t.get("id")) for t in threads if isinstance(t, dict)]
    expect(world.log, ids, has_item(world.chat.thread_id),
           f"the new conversation {title!r} should be in the user's list, but the list has "
           f"{len(ids)} other(s)", summary="a new conversation is missing from the user's list",
           classification=Classification.PRODUCT)
    expect(world.log, [t for t in threads if isinstance(t, dict)
                       and str(t.get("id")) == world.chat.thread_id and t.get("title") != title],
           empty(), f"the new conversation should be listed with its title {title!r}, but "
                    f"{describe(response, world.log)}")
    world.key_finding = f"listed among {len(ids)} conversation(s)"
