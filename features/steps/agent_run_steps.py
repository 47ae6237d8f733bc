"""Agent runs: the five progress events of one run, in order, within budget."""


from behave import then, when
from hamcrest import equal_to, less_than_or_equal_to

from stagecheck.steps import Classification, contract, duration, expect, json_excerpt, plural


@when('the user asks an agent "{request}"')
def step_ask_agent(context, request):
    context.world.agent_run = context.run.run_agent(
        context.world.sessions.current,
        {"type": "start_agent", "payload": {"user_request": request}})


# The progress a user sees, in the feature's words -> the event the platform sends for it.
PROGRESS_EVENTS = {"started": "agent_started", "thinking": "agent_thinking",
                   "using a tool": "tool_executing", "tool finished": "tool_completed",
                   "completed": "agent_completed"}


def _kinds(context):
    return context.world.agent_run.kinds


@then("the user sees the progress events in this order:")
def step_events_in_order(context):
    expected = [PROGRESS_EVENTS[row["progress"]] for row in context.table]
    run = context.world.agent_run
    expect(context.world.log, _kinds(context), equal_to(expected),
           f"an agent run should stream {', '.join(expected)}"
           + (f" ({run.problem})" if run.problem else ""),
           summary=run.problem if run.silent else "",
           classification=Classification.PRODUCT if run.silent else None)


@then("every progress event belongs to the same run")
def step_one_run(context):
    log, agent_run = context.world.log, context.world.agent_run
    without = [f for f in agent_run.events if contract.run_id(f) is None]
    expect(log, None in agent_run.run_id_values, equal_to(False),
           f"every progress event should carry its run id as a string in run_id, but "
           f"{plural(len(without), 'kept event')} of {plural(agent_run.count, 'event')} did "
           f"not, the first: {json_excerpt(log, (without or [None])[0])}",
           summary="progress events without a run id", classification=Classification.PRODUCT)
    run_ids = agent_run.run_ids
    expect(log, len(run_ids), equal_to(1),
           f"every progress event should carry the same run id, but saw {sorted(map(str, run_ids))}")


@then("the run completes within {budget:g} seconds")
def step_run_completes(context, budget):
    world, run = context.world, context.world.agent_run
    kinds = _kinds(context)
    expect(world.log, kinds[-1:] if kinds else [], equal_to(["agent_completed"]),
           f"the agent run should complete, but it ended with {kinds[-1:] or 'no event'}"
           + (f" ({run.problem})" if run.problem else ""))
    expect(world.log, run.elapsed_s, less_than_or_equal_to(budget),
           f"the agent run should complete within {budget:g} s, but took {run.elapsed_s:.2f} s")
    world.key_finding = f"all progress events streamed; completed in {duration(run.elapsed_s)}"
