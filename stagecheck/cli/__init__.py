"""The `stagecheck` command (also `python -m stagecheck`): one parser, one module per command.

- `stagecheck gate [behave options]`: the gate as behave runs it, with a command line behave
  cannot read (a `--tags` that does not parse) refused as exit 2 with a verdict line;
- `stagecheck loop [behave options] --until-green --max-runs N --interval S [--on-new-deploy]
  [--max-time S]`: run the gate in a loop until it is green;
- `stagecheck report PATH/results.json [--format md|html|json] [-o FILE]`: render again;
- `stagecheck merge DIR… [-D setting=value …]`: one run (verdict, report, history entry, exit
  status) from the results of shards run with `-D shard=K/N`;
- `stagecheck serve [--host H] [--port P] [-D setting=value …]`: the gate on demand over HTTP
  for release pipelines (see README);
- `stagecheck catalog [--since REF] [-o DIR]`: the living catalog of the feature files, for
  product review (HTML, Markdown, JSON);
- `stagecheck --version`.

A command is a module with `HELP`, `DESCRIPTION`, `add_arguments(parser)` and
`run(args, rest) -> exit status`; `PASSES_THROUGH = True` when the arguments it does not know
are behave's. A new command is a new module named in `COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from ..lifetime import interruptible
from . import catalog, gate, loop, merge, report, serve

COMMANDS: dict[str, ModuleType] = {"gate": gate, "report": report, "merge": merge, "serve": serve,
                                   "loop": loop, "catalog": catalog}


def _version() -> str:
    try:
        return version("stagecheck")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The one parser: a subparser per command, each filled by its module."""
    parser = argparse.ArgumentParser(
        prog="stagecheck", allow_abbrev=False,
        description="The release gate's commands. The gate itself runs with behave: "
                    "behave --tags=@p1 --stop.")
    parser.add_argument("--version", action="version", version=f"stagecheck {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        child = sub.add_parser(name, allow_abbrev=False, help=command.HELP,
                               description=command.DESCRIPTION)
        command.add_arguments(child)
        child.set_defaults(run=command.run, prog=f"stagecheck {name}",
                           passes_through=getattr(command, "PASSES_THROUGH", False))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not args.passes_through:
        args = parser.parse_args(argv)  # says which arguments it does not know, exit 2
    interruptible()  # Ctrl-C ends the loop with its summary, even in a background job
    return int(args.run(args, rest))
