"""Agent workflows: failures told to the user, runs kept apart, follow-ups, and the HTTP agents."""

from behave import given, then, when
from hamcrest import equal_to, has_entries, has_item, instance_of, is_

from stagecheck.steps import (
    MAIN_USER_EMAIL,
    OTHER_USER_EMAIL,
    Classification,
    NeedsBypassKey,
    agent_request,
    ask_agent_api,
    canned_answer_problem,
    describe,
    expect,
    expect_json,
    known_answer,
    signed_in_user,
)

UNKNOWN_AGENT = "no-such-agent"


@when('the user asks an agent that does not exist for "{request}"')
def step_ask_unknown_agent(context, request):
    world, run = context.world, context.run
    world.agent_run = run.run_agent(world.sessions.current,
                                    agent_request(request, agent_type=UNKNOWN_AGENT))


@then("the user is told the run failed")
def step_told_failed(context):
    agent_run = context.world.agent_run
    expect(context.world.log, agent_run.kinds, has_item("agent_error"),
           f"a run that cannot be carried out should end with agent_error, but the user saw "
           f"{agent_run.kinds or 'no event'}" + (f" ({agent_run.problem})" if agent_run.problem else ""),
           summary=("a failed agent run was silent: the user was never told"
                    if agent_run.silent else ""),
           classification=Classification.PRODUCT if agent_run.silent else None)
    error = next(f for f in agent_run.events if f.get("type") == "agent_error")
    data = error.get("data")
    said = data.get("error") if isinstance(data, dict) else None
    context.world.key_finding = f"told: agent_error {said if isinstance(said, str) else ''}".strip()


@given("two signed-in users with open live sessions")
def step_two_users_with_sessions(context):
    world, run = context.world, context.run
    try:
        world.users = [signed_in_user(run.http, run.target, MAIN_USER_EMAIL),
                       signed_in_user(run.http, run.target, OTHER_USER_EMAIL, distinct=True)]
    except NeedsBypassKey as reason:
        context.scenario.skip(str(reason))
        return
    for user in world.users:
        attempt = world.sessions.track(run.open_session(user.token, world.log))
        expect(world.log, attempt.refused_status, is_(None),
               f"{run.target.ws_url} should open a live session for a signed-in user, but "
               f"refused the handshake with {attempt.refused_status}")
        world.sessions.attempts.append(attempt)


@when("both ask an agent for something at the same time")
def step_both_ask(context):
    world = context.world
    frames = [agent_request(f"Summarise the open items of user {i}")
              for i in range(1, len(world.users) + 1)]
    world.agent_runs = context.run.run_agents_at_once(
        [attempt.session for attempt in world.sessions.attempts], frames)


@then("each user sees only the events of their own run")
def step_own_events_only(context):
    world, runs = context.world, context.world.agent_runs
    problems = []
    for i, run in enumerate(runs, 1):
        others = set().union(*(r.run_ids for j, r in enumerate(runs, 1) if j != i))
        if run.kinds[-1:] != ["agent_completed"]:
            problems.append(f"user {i}'s run did not complete ({run.problem or run.kinds})")
        # A leak is claimed only from evidence: an event of another user's run, seen here.
        leaked = run.run_ids & others
        if leaked:
            problems.append(f"user {i} received events of another user's run "
                            f"({', '.join(sorted(leaked))})")
        elif len(run.run_ids) > 1:
            problems.append(f"user {i} received events of {len(run.run_ids)} runs for one request")
        elif not run.run_ids:
            problems.append(f"user {i}'s run was silent: no event, so whether runs stay apart "
                            "could not be seen")
    expect(world.log, problems, equal_to([]),
           "each user should receive the events of their own run, and only those",
           summary="; ".join(problems[:2]), classification=Classification.PRODUCT)
    world.key_finding = f"{len(runs)} runs at once, each user saw only their own"


@when('the user asks an agent "{request}" in the conversation')
def step_ask_in_conversation(context, request):
    world = context.world
    world.agent_runs.append(context.run.run_agent(world.sessions.current,
                                                  agent_request(request, world.chat.thread_id)))


@when('the user follows up with "{request}" in the same conversation')
def step_follow_up(context, request):
    step_ask_in_conversation(context, request)


@then("the follow-up completes")
def step_follow_up_completes(context):
    first, follow_up = context.world.agent_runs[0], context.world.agent_runs[-1]
    expect(context.world.log, follow_up.kinds[-1:], equal_to(["agent_completed"]),
           f"a follow-up in the same conversation should complete, but it ended with "
           f"{follow_up.kinds[-1:] or 'no event'} (the first run ended with {first.kinds[-1:]})"
           + (f" ({follow_up.problem})" if follow_up.problem else ""),
           summary="a follow-up request in the same conversation never completes",
           classification=Classification.PRODUCT)
    context.world.key_finding = f"follow-up completed in {follow_up.elapsed_s:.2f} s"


@when('the user sends the {agent} agent the request "{request}"')
def step_ask_agent_api(context, agent, request):
    run, world = context.run, context.world
    world.agent_probe = known_answer()  # only an agent that ran answers it
    world.response = ask_agent_api(run.http, run.target, world.user, agent, request,
                                   world.agent_probe)


@then("the agent answers with a result")
def step_agent_answers(context):
    log, response = context.world.log, context.world.response
    body = expect_json(log, response, 200, "the agent should answer the request")
    expect(log, body, has_entries(status="success", response=instance_of(str)),
           f"the agent should answer with status success and a response, but "
           f"{describe(response, log)}", summary=f"the agent answered {body.get('status')!r}"
           if isinstance(body, dict) else "", classification=Classification.PRODUCT)
    expect(log, bool(body["response"].strip()), equal_to(True),
           f"the agent's response should not be empty, but {describe(response, log)}")
    canned = canned_answer_problem(body["response"], context.world.agent_probe)
    expect(log, canned, equal_to(""),
           f"the agent should answer the request itself, but the platform answered a canned "
           f"response, no agent ran ({canned}): {describe(response, log)}",
           summary="the platform answered a canned response, no agent ran",
           classification=Classification.PRODUCT)
    took = body.get("execution_time")
    context.world.key_finding = f"{body.get('agent')} answered" + (
        f" in {took:.3f} s" if isinstance(took, int | float) and not isinstance(took, bool) else "")
