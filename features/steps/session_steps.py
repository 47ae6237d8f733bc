"""Live sessions: opening, refusal, welcome, ping, messages and many at once."""

import asyncio
import time

from behave import given, then, when
from hamcrest import equal_to, is_, less_than_or_equal_to

from stagecheck import contract
from stagecheck.actions import send_user_message
from stagecheck.checks import expect
from stagecheck.sessions import wait_for_refusal
from stagecheck.users import MAIN_USER_EMAIL, forged_token, signed_in_user


def _open(context, token):
    return context.world.track(context.run.open_session(token, context.world.log))


def _open_for_user(context):
    world = context.world
    attempt = _open(context, world.user.token)
    expect(world.log, attempt.refused_status, equal_to(None),
           f"{context.run.target.ws_url} should open a live session for a signed-in user, "
           f"but refused the handshake with {attempt.refused_status}")
    world.session = attempt.session


@when("the user opens a live session")
def step_open_session(context):
    _open_for_user(context)


@given("a signed-in user with an open live session")
def step_user_with_session(context):
    run = context.run
    context.world.user = signed_in_user(run.http, run.target, MAIN_USER_EMAIL)
    _open_for_user(context)


@then("the user is welcomed within {budget:g} seconds")
def step_welcomed(context, budget):
    session, settings = context.world.session, context.run.settings
    session.receive_until(contract.is_welcome, settings.ws_event_timeout, "welcome message")
    waited = time.perf_counter() - session.opened_at
    expect(context.world.log, waited, less_than_or_equal_to(budget),
           f"{session.url} should welcome a new session within {budget:g} s, "
           f"but took {waited:.2f} s")
    context.world.finding = f"welcomed in {waited:.2f} s"


@when("someone opens a live session without a token")
def step_open_without_token(context):
    context.world.attempt = _open(context, None)
    wait_for_refusal(context.world.attempt, context.run.settings.ws_event_timeout)


@when("someone opens a live session with an invalid token")
def step_open_with_invalid_token(context):
    context.world.attempt = _open(context, forged_token())
    wait_for_refusal(context.world.attempt, context.run.settings.ws_event_timeout)


@then("the session is refused")
def step_refused(context):
    attempt = context.world.attempt
    seen = attempt.session.received[:1] if attempt.session else []
    outcome = (f"it was accepted and sent {seen[0].get('type')!r}" if seen else
               f"it was accepted and stayed open (close code {attempt.close_code})")
    expect(context.world.log, attempt.refused, is_(True),
           f"{context.run.target.ws_url} should refuse the session (handshake 403, or close "
           f"1008), but {outcome}")
    how = (f"handshake answered {attempt.refused_status}" if attempt.refused_status
           else f"closed with {attempt.close_code}")
    context.world.finding = f"refused ({how})"


@when("the user pings the session")
def step_ping(context):
    context.world.ping_sent_at = time.perf_counter()
    context.world.session.send({"type": "ping"})


@then("the session answers with a pong within {budget:g} seconds")
def step_pong(context, budget):
    session = context.world.session
    session.receive_until(lambda f: f.get("type") == "pong",
                          context.run.settings.ws_event_timeout, "pong")
    waited = time.perf_counter() - context.world.ping_sent_at
    expect(context.world.log, waited, less_than_or_equal_to(budget),
           f"{session.url} should answer a ping within {budget:g} s, but took {waited:.2f} s")
    context.world.finding = f"pong in {waited:.3f} s"


@when('the user sends the message "{text}"')
def step_send_message(context, text):
    world = context.world
    world.sent_messages.append(text)
    world.acks.append(send_user_message(world.session, world.thread_id, text,
                                        context.run.settings.ws_event_timeout))


@then("the message is acknowledged")
def step_acknowledged(context):
    answer = context.world.acks[-1]
    expect(context.world.log, answer.get("type"), equal_to("ack"),
           f"{context.world.session.url} should acknowledge a user message, but answered "
           f"{answer.get('type')!r} {answer.get('code') or ''} {answer.get('message') or ''}")


async def _open_and_welcome(context, token):
    run, log = context.run, context.world.log
    started = time.perf_counter()
    attempt = await run.open_session_async(token, log)
    context.world.track(attempt)
    if attempt.session is None:
        return attempt, f"handshake refused with {attempt.refused_status}"
    try:
        await attempt.session.receive_until_async(contract.is_welcome,
                                                  run.settings.ws_event_timeout, "welcome message")
    except AssertionError as problem:
        return attempt, str(problem)
    return attempt, time.perf_counter() - started


@when("each of them opens a live session at the same time")
def step_open_many(context):
    world = context.world

    async def all_at_once():
        return await asyncio.gather(*(_open_and_welcome(context, user.token)
                                      for user in world.users))

    outcomes = context.run.loop.run_until_complete(all_at_once())
    world.attempts = [attempt for attempt, _ in outcomes]
    world.welcome_times = [result for _, result in outcomes]


@then("every one of them is welcomed within {budget:g} seconds")
def step_all_welcomed(context, budget):
    world = context.world
    problems = [f"session {i}: {result}" for i, result in enumerate(world.welcome_times, 1)
                if isinstance(result, str)]
    expect(world.log, problems, equal_to([]),
           f"all {len(world.users)} sessions should be welcomed, but not all were")
    slowest = max(world.welcome_times)
    expect(world.log, slowest, less_than_or_equal_to(budget),
           f"all {len(world.users)} sessions should be welcomed within {budget:g} s, "
           f"but the slowest took {slowest:.2f} s")
    context.world.finding = f"{len(world.users)} concurrent sessions welcomed in {slowest:.2f} s"


@then("every session stays open")
def step_all_stay_open(context):
    world, timeout = context.world, context.run.settings.ws_event_timeout

    async def ping(session):
        try:
            await session.send_async({"type": "ping"})
            await session.receive_until_async(lambda f: f.get("type") == "pong", timeout, "pong")
        except AssertionError as problem:
            return str(problem)
        return None

    async def ping_all():
        return await asyncio.gather(*(ping(a.session) for a in world.attempts))

    problems = [p for p in context.run.loop.run_until_complete(ping_all()) if p]
    expect(world.log, problems, equal_to([]),
           f"all {len(world.attempts)} sessions should stay open and answer a ping")
    context.world.finding += ", all still open"
