"""Signing users in: the staging sign-in bypass and its refusals."""

from behave import given, then, when
from hamcrest import has_entries, has_key, is_in

from stagecheck.steps import (
    MAIN_USER_EMAIL,
    OTHER_USER_EMAIL,
    NeedsBypassKey,
    describe,
    expect,
    expect_json,
    numbered_user_email,
    sign_in_url,
    signed_in_user,
    signed_in_users,
)


@given("a signed-in user")
def step_signed_in_user(context):
    context.world.user = signed_in_user(context.run.http, context.run.target, MAIN_USER_EMAIL)


@given("another signed-in user")
def step_another_signed_in_user(context):
    try:
        context.world.other_user = signed_in_user(context.run.http, context.run.target,
                                                  OTHER_USER_EMAIL, distinct=True)
    except NeedsBypassKey as reason:
        context.scenario.skip(str(reason))


@given("{count:d} signed-in users")
def step_many_signed_in_users(context, count):
    run = context.run
    context.world.users = signed_in_users(run.http, run.target,
                                          [numbered_user_email(i) for i in range(1, count + 1)])


def _sign_in(context, key):
    run = context.run
    if not run.target.bypass_key:
        context.scenario.skip("no bypass key is configured (E2E_OAUTH_SIMULATION_KEY)")
        return
    context.world.response = run.http.post(
        sign_in_url(run.target), json_body={"email": MAIN_USER_EMAIL}, headers={"X-E2E-Bypass-Key": key})


@when("a test user signs in with the bypass key")
def step_sign_in(context):
    _sign_in(context, context.run.target.bypass_key)


@when("someone signs in with a wrong bypass key")
def step_sign_in_wrong_key(context):
    _sign_in(context, "wrong-" + context.run.target.bypass_key[::-1])


@then("the user receives an access token that the auth service accepts")
def step_token_accepted(context):
    run, log, response = context.run, context.world.log, context.world.response
    body = expect_json(log, response, 200, "the sign-in bypass should accept the right key")
    expect(log, body, has_entries(token_type="Bearer"),
           f"the sign-in should issue a Bearer token, but {describe(response, log)}")
    expect(log, body, has_key("access_token"),
           f"the sign-in should issue an access token, but {describe(response, log)}")
    check = run.http.post(f"{run.target.auth_url}/auth/validate",
                          json_body={"token": body["access_token"]})
    answer = expect_json(log, check, 200, "the auth service should answer a token check")
    expect(log, answer, has_entries(valid=True),
           f"the auth service should accept the token it issued, but {describe(check, log)}")
    context.world.key_finding = "signed in through the bypass; the token validates"


@then("the sign-in is refused")
def step_sign_in_refused(context):
    log, response = context.world.log, context.world.response
    # The positive control: the same sign-in serves the right key in this run, or a refusal
    # proves nothing (a portal, a wrong URL or a sign-in refusing everyone refuses too).
    signed_in_user(context.run.http, context.run.target, MAIN_USER_EMAIL)
    expect(log, response.status_code, is_in([401, 403]),
           f"a wrong bypass key should be refused with 401, but {describe(response, log)}")
    context.world.key_finding = f"wrong key refused with {response.status_code}"
