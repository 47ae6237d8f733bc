"""Agent discovery: the registry of agent servers."""

from behave import then, when
from hamcrest import equal_to, greater_than_or_equal_to

from stagecheck.steps import (
    Classification,
    bearer,
    contract,
    describe,
    expect,
    expect_json,
    plural,
)


@when("the user asks which agent servers are available")
def step_ask_servers(context):
    run = context.run
    context.world.response = run.http.get(f"{run.target.backend_url}/api/mcp/servers",
                                          headers=bearer(context.world.user))


def _servers(context):
    log, response = context.world.log, context.world.response
    body = expect_json(log, response, 200, "agent discovery should list the agent servers")
    servers = contract.agent_servers(body)
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
    servers = _servers(context)
    unnamed = [server for server in servers if not (
        isinstance(server, dict) and isinstance(server.get("name"), str) and server["name"]
        and isinstance(server.get("status"), str) and server["status"])]
    expect(context.world.log, unnamed, equal_to([]),
           f"every agent server should be an object with a string name and status, but "
           f"{len(unnamed)} of the {plural(len(servers), 'entry', 'entries')} listed did not: "
           f"{describe(context.world.response, context.world.log)}",
           summary=f"{plural(len(unnamed), 'agent server')} listed without a name or status",
           classification=Classification.PRODUCT)
    names = ", ".join(f"{s['name']} ({s['status']})" for s in servers[:3])
    context.world.key_finding = f"{plural(len(servers), 'agent server')} listed: {names}"
