"""Live sessions: opening, refusal, welcome, ping, messages and many at once."""

import contextlib
import re
import time

from behave import given, then, when
from hamcrest import equal_to, is_, less_than_or_equal_to

from stagecheck.steps import (
    MAIN_USER_EMAIL,
    Classification,
    SessionClosed,
    contract,
    duration,
    environment_kept,
    expect,
    forged_token,
    send_user_message,
    sessions_serve,
    signed_in_user,
    wait_for_refusal,
)


def _open(context, token):
    return context.world.sessions.track(context.run.open_session(token, context.world.log))


def _open_for_user(context):
    world = context.world
    attempt = _open(context, world.user.token)
    expect(world.log, attempt.refused_status, equal_to(None),
           f"{context.run.target.ws_url} should open a live session for a signed-in user, "
           f"but refused the handshake with {attempt.refused_status}")
    world.sessions.current = attempt.session


@when("the user opens a live session")
def step_open_session(context):
    _open_for_user(context)


@given("a signed-in user with an open live session")
def step_user_with_session(context):
    run = context.run
    context.world.user = signed_in_user(run.http, run.target, MAIN_USER_EMAIL)
    _open_for_user(context)
    # Open means welcomed: a session accepted and then refused (an error frame, then a close)
    # fails here with the platform's own code and close code, not later as a missing pong.
    context.world.sessions.current.receive_until(contract.is_welcome,
                                                 run.settings.ws_event_timeout, "welcome message")


@given("a signed-in user is let into a live session")
def step_user_let_in(context):
    """The control of every refusal of a live session: the same URL lets a signed-in user in."""
    run, world = context.run, context.world
    world.user = signed_in_user(run.http, run.target, MAIN_USER_EMAIL)
    sessions_serve(run.open_session(world.user.token, world.log), run.target.ws_url,
                   run.settings.ws_event_timeout, world.log)


@then("the user is welcomed within {budget:g} seconds")
def step_welcomed(context, budget):
    session, settings = context.world.sessions.current, context.run.settings
    session.receive_until(contract.is_welcome, settings.ws_event_timeout, "welcome message")
    waited = time.perf_counter() - session.opened_at
    expect(context.world.log, waited, less_than_or_equal_to(budget),
           f"{session.url} should welcome a new session within {budget:g} s, "
           f"but took {waited:.2f} s")
    context.world.key_finding = f"welcomed in {duration(waited)}"


@when("someone opens a live session without a token")
def step_open_without_token(context):
    sessions = context.world.sessions
    sessions.attempt = _open(context, None)
    wait_for_refusal(sessions.attempt, context.run.settings.ws_event_timeout)


@when("someone opens a live session with an invalid token")
def step_open_with_invalid_token(context):
    sessions = context.world.sessions
    sessions.attempt = _open(context, forged_token())
    wait_for_refusal(sessions.attempt, context.run.settings.ws_event_timeout)


@then("the session is refused")
def step_refused(context):
    attempt = context.world.sessions.attempt
    expect(context.world.log, attempt.refused, is_(True),
           f"{context.run.target.ws_url} should refuse the session (handshake 401/403, or an auth "
           f"error then close 1008/1011), but {attempt.how()}",
           summary=f"a session without a valid token was not refused: {attempt.how()}",
           classification=Classification.PRODUCT)
    context.world.key_finding = f"refused: {attempt.how()}"


@when("the user pings the session")
def step_ping(context):
    sessions = context.world.sessions
    sessions.ping_sent_at = time.perf_counter()
    with contextlib.suppress(SessionClosed):  # the Then step, awaiting the pong, says how it ended
        sessions.current.send({"type": "ping"})


@then("the session answers with a pong within {budget:g} seconds")
def step_pong(context, budget):
    sessions = context.world.sessions
    sessions.current.receive_until(lambda f: f.get("type") == "pong",
                                   context.run.settings.ws_event_timeout, "pong")
    waited = time.perf_counter() - sessions.ping_sent_at
    expect(context.world.log, waited, less_than_or_equal_to(budget),
           f"{sessions.current.url} should answer a ping within {budget:g} s, but took "
           f"{waited:.2f} s")
    context.world.key_finding = f"pong in {duration(waited)}"


@when('the user sends the message "{text}"')
def step_send_message(context, text):
    world = context.world
    world.chat.sent.append(text)
    world.chat.answers.append(send_user_message(world.sessions.current, world.chat.thread_id, text,
                                                context.run.settings.ws_event_timeout))


@then("the message is acknowledged")
def step_acknowledged(context):
    world = context.world
    answer = world.chat.answers[-1]
    expect(world.log, answer.acknowledged, equal_to(True),
           f"{world.sessions.current.url} should acknowledge a user message, but answered "
           f"{answer.describe()}", summary="message not acknowledged",
           classification=Classification.PRODUCT)


@when("each of them opens a live session at the same time")
def step_open_many(context):
    world = context.world
    outcomes = context.run.open_all_and_welcome([user.token for user in world.users], world.log,
                                                world.sessions.track)
    world.sessions.attempts = [attempt for attempt, _ in outcomes]
    world.sessions.welcomes = [welcome for _, welcome in outcomes]


@then("every one of them is welcomed within {budget:g} seconds")
def step_all_welcomed(context, budget):
    world, welcomes = context.world, context.world.sessions.welcomes
    problems = [f"session {i}: {welcome.problem}" for i, welcome in enumerate(welcomes, 1)
                if welcome.problem]
    environment = environment_kept(welcomes)
    cause = next((w.problem for w in welcomes if w.machine), "") or next(
        (w.problem for w in welcomes if w.problem), "")
    expect(world.log, problems, equal_to([]),
           f"all {len(world.users)} sessions should be welcomed, but {len(problems)} were not, "
           f"the first because {problems[0].split(': ', 1)[-1] if problems else ''}",
           summary=cause if environment else "",
           classification=Classification.ENVIRONMENT if environment else None)
    slowest = max(welcome.seconds or 0.0 for welcome in welcomes)
    expect(world.log, slowest, less_than_or_equal_to(budget),
           f"all {len(world.users)} sessions should be welcomed within {budget:g} s, "
           f"but the slowest took {slowest:.2f} s")
    world.key_finding = f"{len(world.users)} concurrent sessions welcomed in {duration(slowest)}"


@then("every session stays open")
def step_all_stay_open(context):
    world = context.world
    problems = context.run.ping_all([attempt.session for attempt in world.sessions.attempts])
    expect(world.log, problems, equal_to([]),
           f"all {len(world.sessions.attempts)} sessions should stay open and answer a ping")
    world.key_finding += ", all still open"


@when("the user opens and closes {count:d} live sessions in a short time")
def step_many_sessions(context, count):
    world = context.world
    opened = context.run.open_all_and_welcome([world.user.token] * count, world.log,
                                              world.sessions.track)
    for attempt, _ in opened:
        if attempt.session is not None:
            attempt.session.close()
    world.latency.what = "sessions of one user"
    world.latency.samples = [wait.seconds for _, wait in opened if wait.seconds is not None]
    world.latency.problems = [wait.problem for _, wait in opened if wait.problem]
    world.latency.environment = environment_kept([wait for _, wait in opened])


@then("the user is still let into a new live session")
def step_still_let_in(context):
    world, latency = context.world, context.world.latency
    opened = len(latency.samples)
    how = "; ".join(latency.problems[:1])
    code = re.search(r"code (\d+) '([^']*)'", how)
    if latency.environment:
        expect(world.log, latency.problems, equal_to([]),  # throttled, unreachable: not a refusal
               f"a user should be let in however many sessions they opened before, but after "
               f"{opened} sessions the check could not go on: {how}", summary=how,
               classification=Classification.ENVIRONMENT)
    expect(world.log, latency.problems, equal_to([]),
           f"a user should be let in however many sessions they opened before, but after "
           f"{opened} sessions the platform refused this user: {how}",
           summary=f"after {opened} sessions the platform refuses this user"
           + (f": {code[2]}, closed {code[1]}" if code else ""),
           classification=Classification.PRODUCT)
    attempt = _open(context, world.user.token)
    expect(world.log, attempt.refused_status, equal_to(None),
           f"a user should be let in after {opened} sessions, but the handshake was refused "
           f"with {attempt.refused_status}", summary=f"after {opened} sessions the platform "
           "refuses this user", classification=Classification.PRODUCT)
    attempt.session.receive_until(contract.is_welcome, context.run.settings.ws_event_timeout,
                                  "welcome message")
    world.key_finding = f"let in again after {opened} sessions"
