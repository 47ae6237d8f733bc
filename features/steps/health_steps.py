"""Platform health: the backend's own answer, and its database check."""

from behave import then, when
from hamcrest import equal_to, is_in, less_than_or_equal_to

from stagecheck.steps import contract, describe, duration, elapsed_s, expect, expect_json


def _check(context, path):
    run = context.run
    context.world.response = run.http.get(f"{run.target.backend_url}{path}",
                                          timeout=run.settings.health_timeout)


@when("the release gate checks the backend's health")
def step_check_health(context):
    _check(context, "/health")


@when("the release gate checks the backend's detailed health")
def step_check_detailed_health(context):
    _check(context, "/api/health")


@then("the backend reports itself up within {budget:g} seconds")
def step_backend_up(context, budget):
    log, response = context.world.log, context.world.response
    body = expect_json(log, response, 200, "the backend should report itself up")
    status = body.get("status") if isinstance(body, dict) else None
    expect(log, status, is_in(sorted(contract.UP_STATUSES)),
           f"the backend should report a status of healthy, degraded or ok, but "
           f"{describe(response, log)}")
    expect(log, elapsed_s(response), less_than_or_equal_to(budget),
           f"the backend should answer its health check within {budget:g} s, but took "
           f"{elapsed_s(response):.2f} s")
    context.world.key_finding = f"{status} in {duration(elapsed_s(response))}"


@then("the core database is reported connected")
def step_database_connected(context):
    log, response = context.world.log, context.world.response
    body = expect_json(log, response, 200, "the detailed health should be up")
    database = contract.database_check(body)
    expect(log, database.get("connected"), equal_to(True),
           f"the detailed health should report the core database connected "
           f"(checks.postgresql.connected true), but {describe(response, log)}")
    context.world.key_finding = f"database connected ({database.get('response_time_ms')} ms)"
