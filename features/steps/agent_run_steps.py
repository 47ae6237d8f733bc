"""Agent runs: the five progress events of one run, in order, within budget."""

import time

from behave import then, when
from hamcrest import equal_to, less_than_or_equal_to

from stagecheck.steps import Classification, NoAnswer, contract, duration, expect


@when('the user asks an agent "{request}"')
def step_ask_agent(context, request):
    session, run, settings = context.world.sessions.current, context.world.agent_run, context.run.settings
    started = time.perf_counter()
    first = len(session.received)
    try:  # judged by the Then steps, with what did arrive
        session.send({"type": "start_agent", "payload": {"user_request": request}})
        opening = session.receive_until(contract.is_agent_event, settings.ws_event_timeout,
                                        "first event of the agent run")
        if opening.get("type") not in contract.AGENT_END_EVENTS:
            left = settings.agent_timeout - (time.perf_counter() - started)
            session.receive_until(lambda f: f.get("type") in contract.AGENT_END_EVENTS,
                                  max(left, 0.0), "end of the agent run (agent_completed)")
    except NoAnswer as problem:
        run.silent = not any(contract.is_agent_event(f) for f in session.received[first:])
        run.problem = (f"the agent run was silent: no event within {settings.ws_event_timeout:g} s"
                       if run.silent else str(problem))
    except AssertionError as problem:
        run.problem = str(problem)
    run.elapsed_s = time.perf_counter() - started
    run.events = [f for f in session.received[first:] if contract.is_agent_event(f)]


def _kinds(context):
    return contract.collapse_repeats([str(f.get("type")) for f in context.world.agent_run.events])


@then("the user sees the progress events in this order:")
def step_events_in_order(context):
    expected = [row["event"] for row in context.table]
    run = context.world.agent_run
    expect(context.world.log, _kinds(context), equal_to(expected),
           f"an agent run should stream {', '.join(expected)}"
           + (f" ({run.problem})" if run.problem else ""),
           summary=run.problem if run.silent else "",
           classification=Classification.PRODUCT if run.silent else None)


@then("every progress event belongs to the same run")
def step_one_run(context):
    run_ids = {f.get("run_id") for f in context.world.agent_run.events}
    expect(context.world.log, len(run_ids) == 1 and None not in run_ids, equal_to(True),
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
    world.finding = f"all progress events streamed; completed in {duration(run.elapsed_s)}"
