"""The platform under load: Locust plays the users (signed in through the bypass, holding live
sessions, running agents), and its statistics are the evidence the Then steps judge."""

import parse
from behave import given, register_type, then, when
from hamcrest import equal_to, greater_than, less_than

from stagecheck.steps import Classification, LoadPlan, expect

WELCOME, AGENT_RUN, SESSION = "welcome", "agent run", "session held"


@parse.with_pattern(r"\d+(?:\.\d+)? seconds?")
def parse_seconds(text):
    """A budget as the feature file words it, "1 second" or "0.5 seconds": its number."""
    return float(text.split()[0])


register_type(Seconds=parse_seconds)


@given("{users:d} signed-in users arriving at {rate:g} per second")
def step_arriving(context, users, rate):
    context.world.load_plan = (users, rate)


def _run(context, seconds, user_class):
    users, rate = context.world.load_plan
    plan = LoadPlan.scaled(users, rate, seconds, user_class, context.run.settings.load_scale)
    context.world.load = context.run.run_load(plan, context.world.log)
    context.world.measures.update(context.world.load.measures())


@when("they hold live sessions for {seconds:d} seconds")
def step_hold_sessions(context, seconds):
    _run(context, seconds, "LiveSessionUser")


@when("they run agents for {seconds:d} seconds")
def step_run_agents(context, seconds):
    _run(context, seconds, "AgentUser")


def _sampled(context, name, what):
    load = context.world.load
    row = load.of(name)
    expect(context.world.log, row.count, greater_than(0),
           f"{load.plan.describe()} should have measured {what}, but Locust recorded none",
           summary=f"no {what} measured under load", classification=Classification.PRODUCT)
    return row


def _failures(context, name, what, failed):
    load = context.world.load
    row = _sampled(context, name, what)
    expect(context.world.log, row.failures, equal_to(0),
           f"{load.plan.describe()}: no {what} should fail, but {row.failures} of {row.count} "
           f"{failed}: {load.failure_text(name)}",
           summary=f"{row.failures} of {row.count} {what}s {failed} under load",
           classification=Classification.PRODUCT)
    return row


def _p95(context, name, what, budget):
    load = context.world.load
    row = _sampled(context, name, what)
    expect(context.world.log, row.p95_s, less_than(budget),
           f"{load.plan.describe()}: the p95 of {what} should be under {budget:g} s, but "
           f"Locust measured p95 {row.p95_s:.3f} s ({row.describe()})",
           summary=f"p95 {what} {row.p95_s:.2f} s under load (budget {budget:g} s)",
           classification=Classification.PRODUCT)
    context.world.key_finding = (f"{load.plan.users} users: p95 {what} {row.p95_s:.3f} s, "
                             f"p99 {row.p99_s:.3f} s over {row.count} samples")
    return row


@then("no session is dropped")
def step_no_session_dropped(context):
    _failures(context, WELCOME, "welcome", "did not come")
    held = _failures(context, SESSION, "session", "were dropped")
    context.world.key_finding = f"{held.count} sessions held, none dropped"


@then("95 in every 100 users are welcomed in under {budget:Seconds}")
def step_welcome_p95(context, budget):
    _p95(context, WELCOME, "welcome time", budget)


@then("95 in every 100 agent runs finish in under {budget:Seconds}")
def step_agent_p95(context, budget):
    _p95(context, AGENT_RUN, "agent run", budget)


@then("no agent run fails")
def step_no_agent_run_fails(context):
    row = _failures(context, AGENT_RUN, "agent run", "failed")
    context.world.key_finding += f", all {row.count} runs completed"
