"""`stagecheck merge DIR… [-D setting=value …]`: one run (verdict, report, history entry, exit
status) from the results of shards run with `-D shard=K/N`, or of behavex's parts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError, ShardError
from ..gate.conclude import publish_assembled
from ..report.merge import merge
from ..vocabulary import ExitCode
from .loop import loop_settings

HELP = "merge the results of sharded runs into one run"
DESCRIPTION = ("Merge the results of sharded runs (-D shard=K/N), or the parts in a report folder "
               "(behavex's workers), into one run: one verdict, one report, one history entry.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folders", nargs="+", type=Path,
                        help="each shard's report folder (or its results.json), or a report "
                             "folder of parts")
    parser.add_argument("-D", dest="define", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting, as for behave (report_dir, history, keep_runs, ...)")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    """The shards' results as one run, with the gate's exit status."""
    try:
        settings = loop_settings([arg for pair in args.define for arg in ("-D", pair)])
        result = merge(args.folders)
    except (ConfigError, ShardError) as exc:
        print(f"stagecheck merge: {exc}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    outcome = publish_assembled(result, settings, "stagecheck merge")
    print(outcome.line(), flush=True)
    return outcome.exit_code
