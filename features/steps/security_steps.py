"""Security: tokens that must not work (expired, foreign, refresh, signed out, forged behind
test headers), anonymous callers, and writes into another user's conversation."""

import uuid

from behave import given, then, when
from hamcrest import equal_to, has_item, is_in, is_not

from stagecheck.steps import (
    MAIN_USER_EMAIL,
    OTHER_USER_EMAIL,
    Classification,
    NeedsBypassKey,
    conversation_messages,
    conversations_serve,
    describe,
    expect,
    expired_token,
    forged_token,
    fresh_token,
    key_accepted_by_api,
    key_accepted_by_sessions,
    list_conversations,
    message_contents,
    send_user_message,
    sessions_serve,
    sign_out,
    signed_in_user,
    wait_for_refusal,
)

REFUSED = [401, 403]


def _signing_key(context):
    key = context.run.target.signing_key
    if not key:
        context.scenario.skip("an expired token needs the platform's signing key: set "
                              "STAGING_JWT_SECRET_KEY to verify it")
    return key


def _expired(context):
    key = _signing_key(context)
    return expired_token(context.world.user, key) if key else None


@given("a signed-in user who can list their conversations")
def step_user_can_list(context):
    """The control of every refusal on the API: the same route serves a signed-in user."""
    run = context.run
    context.world.user = signed_in_user(run.http, run.target, MAIN_USER_EMAIL)
    conversations_serve(run.http, run.target, context.world.user.token)


@given("a fresh token made with the platform's signing key can list them too")
def step_fresh_token_lists(context):
    """The control of an expired token on the API: the key signing it is the platform's."""
    key = _signing_key(context)
    if key:
        key_accepted_by_api(context.run.http, context.run.target,
                            fresh_token(context.world.user, key))


@given("a fresh token made with the platform's signing key is let in too")
def step_fresh_token_let_in(context):
    """The control of an expired token in live sessions: the key signing it is the platform's."""
    key, world, run = _signing_key(context), context.world, context.run
    if key:
        key_accepted_by_sessions(run.open_session(fresh_token(world.user, key), world.log),
                                 run.settings.ws_event_timeout, world.log)


def _list_with(context, token):
    run = context.run
    context.world.response = list_conversations(run.http, run.target, token)


def _open_refused(context, token, headers=None):
    world, run = context.world, context.run
    world.sessions.attempt = world.sessions.track(run.open_session(token, world.log, headers))
    wait_for_refusal(world.sessions.attempt, run.settings.ws_event_timeout)


@when("someone lists the user's conversations with the user's expired token")
def step_list_expired(context):
    token = _expired(context)
    if token:
        _list_with(context, token)


@when("someone opens a live session with the user's expired token")
def step_open_expired(context):
    token = _expired(context)
    if token:
        _open_refused(context, token)


@when("someone lists conversations with a token signed by another key")
def step_list_forged(context):
    _list_with(context, forged_token())


@when("someone lists the user's conversations with the user's token for renewing the sign-in")
def step_list_refresh(context):
    refresh = context.world.user.refresh_token
    if not refresh:
        context.scenario.skip("no refresh token: the sign-in bypass (E2E_OAUTH_SIMULATION_KEY) "
                              "issues one")
        return
    _list_with(context, refresh)


# A header whose name says the caller is the platform's own tests (the seed-era hole:
# websocket_core/unified_websocket_auth.py switched token checks off for it).
POSING_AS_TESTS = {"X-E2E-Test": "true"}


@when("someone opens a live session with a forged token, posing as the platform's own tests")
def step_open_forged_posing_as_tests(context):
    _open_refused(context, forged_token(), dict(POSING_AS_TESTS))


@given("a signed-in user who listed their conversations, then signed out")
def step_signed_out_user(context):
    run = context.run
    try:  # signing a shared ready-made token out would break every later scenario
        context.world.user = signed_in_user(run.http, run.target, MAIN_USER_EMAIL, distinct=True)
    except NeedsBypassKey as reason:
        context.scenario.skip(str(reason))
        return
    conversations_serve(run.http, run.target, context.world.user.token)  # the same token, served
    sign_out(run.http, run.target, context.world.user)


@when("someone lists the user's conversations with the signed-out token")
def step_list_signed_out(context):
    _list_with(context, context.world.user.token)


@then("the request is refused")
def step_request_refused(context):
    log, response = context.world.log, context.world.response
    expect(log, response.status_code, is_in(REFUSED),
           f"a token that is not a valid access token should be refused with 401 or 403, but "
           f"{describe(response, log)}",
           summary=f"a token that must not work was accepted ({response.status_code})",
           classification=Classification.PRODUCT)
    context.world.key_finding = f"refused with {response.status_code}"


@when("someone who is not signed in uses the conversation endpoints")
def step_anonymous(context):
    run, base = context.run, context.run.target.backend_url
    context.world.responses = [
        run.http.get(f"{base}/api/threads"),
        run.http.post(f"{base}/api/threads", json_body={"title": "Anonymous"}),
        run.http.get(f"{base}/api/threads/{uuid.uuid4()}/messages"),
    ]


@then("every one of them refuses the caller")
def step_all_refuse(context):
    log, responses = context.world.log, context.world.responses
    served = [describe(r, log, 120) for r in responses if r.status_code not in REFUSED]
    expect(log, served, equal_to([]),
           f"every conversation endpoint should refuse a caller without a token (401 or 403), but "
           f"{len(served)} of {len(responses)} did not",
           summary="a conversation endpoint serves callers who are not signed in",
           classification=Classification.PRODUCT)
    context.world.key_finding = (f"{len(responses)} endpoints refused with "
                             f"{sorted({r.status_code for r in responses})}")


@given("another signed-in user with an open live session")
def step_other_with_session(context):
    world, run = context.world, context.run
    try:
        world.other_user = signed_in_user(run.http, run.target, OTHER_USER_EMAIL, distinct=True)
    except NeedsBypassKey as reason:
        context.scenario.skip(str(reason))
        return
    attempt = world.sessions.track(run.open_session(world.other_user.token, world.log))
    sessions_serve(attempt, run.target.ws_url, run.settings.ws_event_timeout, world.log,
                   keep_open=True)  # a message sent where nobody is let in proves nothing
    world.sessions.current = attempt.session


@when('the other user sends the message "{text}" into that conversation')
def step_other_writes(context, text):
    world = context.world
    world.chat.answers.append(send_user_message(world.sessions.current, world.chat.thread_id,
                                                text, context.run.settings.ws_event_timeout))


@then('the conversation does not contain the message "{text}"')
def step_not_written(context, text):
    run, world = context.run, context.world
    response = conversation_messages(run.http, run.target, world.user, world.chat.thread_id)
    contents = message_contents(run.http, response)  # the owner reads it back first
    expect(world.log, contents, is_not(has_item(text)),
           f"another user's message should never be stored in this user's conversation, but it "
           f"lists {text!r}", summary="another user could write into this user's conversation",
           classification=Classification.PRODUCT)
    world.key_finding = f"the owner's conversation lists {len(contents)} message(s), none of the other user's"
