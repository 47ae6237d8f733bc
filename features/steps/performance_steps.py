"""Speed as users feel it: samples of one latency, their 95th percentile against a soft and a
hard budget (over the soft one the scenario is degraded, over the hard one it fails)."""

import time

import parse
from behave import register_type, then, when
from hamcrest import equal_to, less_than_or_equal_to

from stagecheck.steps import NoAnswer, SessionClosed, agent_request, degrade, elapsed_s, expect, percentile_95


@parse.with_pattern(r"\d+(?:\.\d+)? seconds?")
def parse_seconds(text):
    """A budget as the feature file words it, "1 second" or "0.5 seconds": its number."""
    return float(text.split()[0])


register_type(Seconds=parse_seconds)


@when("the release gate checks the backend's health {samples:d} times")
def step_health_samples(context, samples):
    run, latency = context.run, context.world.latency
    latency.what = "health answers"
    for _ in range(samples):
        response = run.http.get(f"{run.target.backend_url}/health",
                                timeout=run.settings.health_timeout)
        if response.status_code == 200:
            latency.samples.append(elapsed_s(response))
        else:
            latency.problems.append(f"answered {response.status_code}")


@when("the user opens {samples:d} live sessions one after another")
def step_welcome_samples(context, samples):
    world, latency = context.world, context.world.latency
    latency.what = "welcomes of new sessions"
    latency.samples, latency.problems = context.run.welcome_times(world.user.token, world.log,
                                                                  samples)


@when("the user pings the session {samples:d} times")
def step_ping_samples(context, samples):
    session, latency = context.world.sessions.current, context.world.latency
    latency.what = "pongs"
    for _ in range(samples):
        sent = time.perf_counter()
        try:
            session.send({"type": "ping"})
            session.receive_until(lambda f: f.get("type") == "pong",
                                  context.run.settings.ws_event_timeout, "pong")
        except (NoAnswer, SessionClosed) as problem:
            latency.problems.append(str(problem))
            break  # a closed or silent session answers no further ping
        latency.samples.append(time.perf_counter() - sent)


@when("the user asks an agent for something {samples:d} times")
def step_first_event_samples(context, samples):
    world, latency = context.world, context.world.latency
    latency.what = "first agent events"
    for i in range(1, samples + 1):
        agent_run = context.run.run_agent(world.sessions.current,
                                          agent_request(f"Which agent servers can I use? ({i})"))
        if agent_run.first_event_s is None:
            latency.problems.append(agent_run.problem or "no event")
        else:
            latency.samples.append(agent_run.first_event_s)


@then("95 in every 100 of them are within the soft budget of {soft:Seconds} and the hard "
      "budget of {hard:Seconds}")
def step_within_budgets(context, soft, hard):
    world, latency = context.world, context.world.latency
    expect(world.log, latency.problems, equal_to([]),
           f"every one of the {latency.what} should come, but "
           f"{len(latency.problems)} did not")
    p95 = percentile_95(latency.samples)  # every sample came, so there are some
    expect(world.log, p95, less_than_or_equal_to(hard),
           f"the 95th percentile of {len(latency.samples)} {latency.what} should be within the "
           f"hard budget of {hard:g} s, but was {p95:.2f} s",
           summary=f"p95 of {latency.what} {p95:.2f} s is over its hard budget of {hard:g} s")
    if p95 > soft:
        degrade(world, f"p95 of {latency.what} {p95:.2f} s is over its soft budget of {soft:g} s "
                       f"(within the hard {hard:g} s)")
    world.key_finding = (f"p95 of {len(latency.samples)} {latency.what}: {p95:.3f} s "
                     f"(soft {soft:g} s, hard {hard:g} s)")
