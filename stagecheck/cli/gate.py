"""`stagecheck gate [behave options]`: behave itself (its own configuration and `run_behave`, in
this process, with the gate's runner from pyproject.toml), for pipelines that need the exit status
to be the verdict every time. Plain `behave` is the same run, but behave refuses a command line it
cannot read (a `--tags` expression that does not parse, a path with no steps folder) before any of
the gate's code is loaded, with exit 1 and no verdict line; here such a refusal is said as the gate
says one: one sentence, the verdict line, exit 2."""

from __future__ import annotations

import argparse
import sys

from behave.__main__ import run_behave
from behave.configuration import Configuration
from behave.exception import ConfigError
from behave.tag_expression.parser import TagExpressionError

from ..gate.runner import GateRunner
from ..outputs.verdict import record_refusal
from ..run.record import new_run_id
from ..vocabulary import ExitCode

HELP = "run the gate (behave) with every refusal as exit 2 and a verdict line"
DESCRIPTION = ("Run the gate as behave does (the same options: --tags, --stop, -D ...), with a "
               "command line behave cannot read refused in one sentence and exit 2.")
PASSES_THROUGH = True  # every option is behave's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """None of its own: behave's options pass through."""


def _report_dir(args: list[str]) -> str:
    """The report folder behave's -D options name (its configuration could not be read)."""
    pairs = [args[i + 1] if a in ("-D", "--define") and i + 1 < len(args)
             else a.removeprefix("--define=").removeprefix("-D") for i, a in enumerate(args)
             if a in ("-D", "--define") or a.startswith(("-D", "--define="))]
    named = [pair.split("=", 1)[1] for pair in pairs if pair.startswith("report_dir=")]
    return named[-1] if named else "reports"


def _refuse(why: str, args: list[str]) -> int:
    record_refusal(_report_dir(args), new_run_id(), why)
    print(f"stagecheck: {why}", file=sys.stderr, flush=True)
    print(f"Release gate: could not judge · {why} · exit {ExitCode.NOT_JUDGED}", flush=True)
    return ExitCode.NOT_JUDGED


def run(args: argparse.Namespace, rest: list[str]) -> int:
    """behave with `rest`; the gate's runner ends it with the verdict's exit status (SystemExit),
    so a return from behave means behave refused the run before the gate could judge it."""
    try:
        config = Configuration(rest)
    except TagExpressionError as exc:
        return _refuse(f"the tag expression does not parse ({str(exc).splitlines()[0]}); "
                       "nothing was run", rest)
    except ConfigError as exc:
        return _refuse(f"behave cannot read its configuration: {exc}; nothing was run", rest)
    code = run_behave(config, runner_class=GateRunner)  # the gate's runner, whatever is asked
    if code == 0:  # --version, --tags-help, --format=help: behave's own answers, no run
        return ExitCode.GO
    return _refuse("behave refused the run before it began (its own sentence is above); "
                   "nothing was judged", rest)
