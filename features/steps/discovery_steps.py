"""Agent discovery: the registry of agent servers."""

from behave import then, when
from hamcrest import equal_to, greater_than_or_equal_to

from stagecheck import contract
from stagecheck.actions import bearer
from stagecheck.checks import expect
from stagecheck.http_client import describe, json_body


@when("the user asks which agent servers are available")
def step_ask_servers(context):
    run = context.run
    context.world.response = run.http.get(f"{run.target.backend_url}/api/mcp/servers",
                                          headers=bearer(context.world.user))


def _servers(context):
    log, response = context.world.log, context.world.response
    expect(log, response.status_code, equal_to(200),
           f"agent discovery should list the agent servers, but {describe(response, log)}")
    servers = contract.agent_servers(json_body(response, log))
    expect(log, servers is not None, equal_to(True),
           f"agent discovery should answer with a list of servers, but {describe(response, log)}")
    return servers


@then("at least one agent server is listed")
def step_some_servers(context):
    servers = _servers(context)
    expect(context.world.log, len(servers), greater_than_or_equal_to(1),
           f"agent discovery should list at least one agent server, but "
           f"{describe(context.world.response, context.world.log)}")


@then("every agent server is named with its status")
def step_servers_named(context):
    unnamed = [server for server in _servers(context) if not (
        isinstance(server, dict) and isinstance(server.get("name"), str) and server["name"]
        and isinstance(server.get("status"), str) and server["status"])]
    expect(context.world.log, unnamed, equal_to([]),
           "every agent server should have a name and a status, but some did not")
    servers = _servers(context)
    names = ", ".join(f"{s['name']} ({s['status']})" for s in servers[:3])
    context.world.finding = f"{len(servers)} agent server(s) listed: {names}"
