"""behave hooks: each calls one fixture of stagecheck.gate.fixtures, and holds no logic of its own."""

from behave import use_fixture

from stagecheck.gate.fixtures import record_step, run_fixture, scenario_fixture
from stagecheck.gate.project import refuse_outside_project

# behave reads [tool.behave] only where it is started: started in features/, it is refused here.
refuse_outside_project(__file__)


def before_all(context):
    use_fixture(run_fixture, context)


def before_scenario(context, scenario):
    use_fixture(scenario_fixture, context)


def after_step(context, step):
    record_step(context, step)
