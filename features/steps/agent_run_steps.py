"""Agent runs: the five progress events of one run, in order, within budget."""

import time

from behave import then, when
from hamcrest import equal_to, less_than_or_equal_to

from stagecheck import contract
from stagecheck.checks import expect


@when('the user asks an agent "{request}"')
def step_ask_agent(context, request):
    world, timeout = context.world, context.run.settings.agent_timeout
    started = time.perf_counter()
    world.session.send({"type": "start_agent", "payload": {"user_request": request}})
    first = len(world.session.received)
    try:
        world.session.receive_until(lambda f: f.get("type") in contract.AGENT_END_EVENTS,
                                    timeout, "end of the agent run (agent_completed)")
    except AssertionError as problem:  # judged by the Then steps, with what did arrive
        world.run_problem = str(problem)
    world.run_elapsed_s = time.perf_counter() - started
    world.run_events = [f for f in world.session.received[first:] if contract.is_agent_event(f)]


def _kinds(context):
    return contract.collapse_repeats([str(f.get("type")) for f in context.world.run_events])


@then("the user sees the progress events in this order:")
def step_events_in_order(context):
    expected = [row["event"] for row in context.table]
    problem = f" ({context.world.run_problem})" if context.world.run_problem else ""
    expect(context.world.log, _kinds(context), equal_to(expected),
           f"an agent run should stream {', '.join(expected)}{problem}")


@then("every progress event belongs to the same run")
def step_one_run(context):
    run_ids = {f.get("run_id") for f in context.world.run_events}
    expect(context.world.log, len(run_ids) == 1 and None not in run_ids, equal_to(True),
           f"every progress event should carry the same run id, but saw {sorted(map(str, run_ids))}")


@then("the run completes within {budget:g} seconds")
def step_run_completes(context, budget):
    world = context.world
    kinds = _kinds(context)
    expect(world.log, kinds[-1:] if kinds else [], equal_to(["agent_completed"]),
           f"the agent run should complete, but it ended with {kinds[-1:] or 'no event'}"
           + (f" ({world.run_problem})" if world.run_problem else ""))
    expect(world.log, world.run_elapsed_s, less_than_or_equal_to(budget),
           f"the agent run should complete within {budget:g} s, but took {world.run_elapsed_s:.2f} s")
    world.finding = f"all progress events streamed; completed in {world.run_elapsed_s:.2f} s"
