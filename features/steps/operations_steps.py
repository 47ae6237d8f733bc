"""Operations: the build the backend reports, readiness, service discovery, dependency health."""

from behave import then, when
from hamcrest import empty, equal_to, is_not

from stagecheck.steps import Classification, contract, describe, expect, expect_json, json_body


def _get(context, path):
    run = context.run
    response = run.http.get(f"{run.target.backend_url}{path}", timeout=run.settings.health_timeout)
    context.world.responses.append(response)
    context.world.response = response
    return response


@when("the release gate asks the backend which build it runs")
def step_ask_build(context):
    # GET /health names it; where it answers only {"status": "ok"} (beta-17), /api/health does.
    response = _get(context, "/health")
    if response.status_code != 200 or not contract.reported_version(json_body(response,
                                                                              context.world.log)):
        _get(context, contract.DETAILED_HEALTH)


@then("the backend names its version")
def step_names_version(context):
    log, responses = context.world.log, context.world.responses
    versions = [contract.reported_version(json_body(r, log)) for r in responses
                if r.status_code == 200]
    named = next((v for v in versions if v), "")
    expect(log, named, is_not(empty()),
           "the backend should report its version or build, but "
           + "; ".join(describe(r, log, 150) for r in responses),
           summary="the backend does not say which build it runs")
    expected = context.run.target.expected_version
    if not expected:  # any name passes, and the platform names "1.0.0" for every build
        context.scenario.skip(f"not verified: the backend names version {named}, but which "
                              "build is being released is not known: pass -D "
                              "expected_version=<version>")
        return
    expect(log, named, equal_to(expected),
           f"the backend should name the build being released, {expected}, but names {named}",
           summary=f"the backend names build {named}, not {expected}",
           classification=Classification.PRODUCT)
    context.world.key_finding = f"version {named}, the build being released"


@when("the release gate asks the backend whether it is ready")
def step_ask_ready(context):
    _get(context, "/health/ready")


@then("the backend answers that it is ready")
def step_ready(context):
    log, response = context.world.log, context.world.response
    body = expect_json(log, response, 200, "the backend should say it is ready for traffic")
    expect(log, body.get("status") if isinstance(body, dict) else None, equal_to("ready"),
           f"the readiness answer should say ready, but {describe(response, log)}")
    context.world.key_finding = f"ready, core database {body.get('core_db', 'not named')}"


@when("the release gate asks where the platform's services are")
def step_ask_services(context):
    _get(context, "/api/discovery/services")


@then("the backend and auth services are listed with their addresses")
def step_services_listed(context):
    log, response = context.world.log, context.world.response
    body = expect_json(log, response, 200, "service discovery should answer")
    services = body.get("services") if isinstance(body, dict) else None
    services = services if isinstance(services, dict) else {}
    missing = [name for name in ("backend", "auth")
               if not (isinstance(services.get(name), dict)
                       and isinstance(services[name].get("url"), str) and services[name]["url"])]
    expect(log, missing, equal_to([]),
           f"service discovery should list the backend and auth services with their URLs "
           f"(services.<name>.url), but {describe(response, log)}",
           summary=f"service discovery does not list {missing}",
           classification=Classification.PRODUCT)
    context.world.key_finding = ", ".join(f"{name} at {services[name]['url']}"
                                      for name in ("backend", "auth"))


@then("every dependency is named with its status")
def step_dependencies(context):
    log, response = context.world.log, context.world.response
    body = expect_json(log, response, 200, "the detailed health should answer")
    checks = contract.dependency_checks(body) or {}
    expect(log, list(checks), is_not(empty()),
           f"the detailed health should name its dependencies in an object, checks, but "
           f"{describe(response, log)}", summary="the detailed health names no dependency",
           classification=Classification.PRODUCT)
    unnamed = [name for name, check in checks.items()
               if not (isinstance(check, dict) and isinstance(check.get("status"), str)
                       and check["status"])]
    expect(log, unnamed, equal_to([]),
           f"every dependency should have a status, but {unnamed} had none: "
           f"{describe(response, log)}", summary=f"dependency without a status: {unnamed}",
           classification=Classification.PRODUCT)
    context.world.key_finding = ", ".join(f"{name} {check['status']}" for name, check in checks.items())
