"""behave hooks: each activates one fixture from stagecheck, and holds no logic of its own."""

from behave import use_fixture

from stagecheck.fixtures import run_fixture, scenario_fixture


def before_all(context):
    use_fixture(run_fixture, context)


def before_scenario(context, scenario):
    use_fixture(scenario_fixture, context)
