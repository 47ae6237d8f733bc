"""The `stagecheck` command (also `python -m stagecheck`):

- `stagecheck loop [behave options] --until-green --max-runs N --interval S [--on-new-deploy]
  [--max-time S]`: run the gate in a loop until it is green;
- `stagecheck report PATH/results.json [--format md|html|json] [-o FILE]`: render again;
- `stagecheck merge DIR… [-D setting=value …]`: one run (verdict, report, history entry, exit
  status) from the results of shards run with `-D shard=K/N`;
- `stagecheck serve [--host H] [--port P] [-D setting=value …]`: the gate on demand over HTTP
  for release pipelines (see README);
- `stagecheck --version`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .conclude import publish
from .errors import ConfigError, HistoryError, LoopError, ShardError
from .history.loop import DeployLoop, LoopOptions, loop_settings
from .history.store import History, target_key
from .report.__main__ import main as report_main
from .service import serve_main
from .shards import merge
from .vocabulary import ExitCode


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: a number of this kind, above zero."""
    def convert(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return convert


def _version() -> str:
    try:
        return version("stagecheck")
    except PackageNotFoundError:
        return "unknown (not installed)"


def merge_main(argv: list[str]) -> int:
    """`stagecheck merge DIR…`: the shards' results as one run, with the gate's exit status."""
    parser = argparse.ArgumentParser(
        prog="stagecheck merge", description="Merge the results of sharded runs (-D shard=K/N), "
        "or the parts in a report folder (behavex's workers), into one run: one verdict, one "
        "report, one history entry.")
    parser.add_argument("folders", nargs="+", type=Path,
                        help="each shard's report folder (or its results.json), or a report "
                             "folder of parts")
    parser.add_argument("-D", dest="define", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting, as for behave (report_dir, history, keep_runs, ...)")
    args = parser.parse_args(argv)
    try:
        settings = loop_settings([arg for pair in args.define for arg in ("-D", pair)])
        result = merge(args.folders)
    except (ConfigError, ShardError) as exc:
        print(f"stagecheck merge: {exc}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    try:
        history: History | None = History(settings.history)
    except HistoryError as exc:
        print(f"stagecheck merge: no run history this time: {exc}", file=sys.stderr)
        history = None
    facts = result.facts
    outcome = publish(result, settings, history, target_key(
        facts.target, facts.backend_url, tuple(facts.standin_faults), facts.standin_variant))
    print(outcome.line(), flush=True)
    return outcome.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        return report_main(argv[1:], prog="stagecheck report")
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    if argv[:1] == ["serve"]:
        return serve_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="stagecheck", allow_abbrev=False,
        description="The release gate's commands. The gate itself runs with behave: "
                    "behave --tags=@p1 --stop.")
    parser.add_argument("--version", action="version", version=f"stagecheck {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("report", help="render a report again from a saved results.json")
    sub.add_parser("merge", help="merge the results of sharded runs into one run")
    sub.add_parser("serve", help="run the gate on demand over HTTP for release pipelines")
    loop = sub.add_parser("loop", allow_abbrev=False, help="re-run the gate until it is green")
    loop.add_argument("--until-green", action="store_true", help="stop at the first GO")
    loop.add_argument("--max-runs", type=_positive(int), default=10, help="at most this many runs")
    loop.add_argument("--interval", type=_positive(float), default=60.0, metavar="S",
                      help="seconds between runs, or between checks for a new deploy")
    loop.add_argument("--on-new-deploy", action="store_true",
                      help="run only when the target's health reports a version not tested yet")
    loop.add_argument("--max-time", type=_positive(float), default=3600.0, metavar="S",
                      help="total time limit in seconds (default %(default)s)")
    args, behave_args = parser.parse_known_args(argv)
    options = LoopOptions(behave_args, args.until_green, args.max_runs, args.interval,
                          args.on_new_deploy, args.max_time)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        summary = DeployLoop(options, say).run()
    except (ConfigError, LoopError) as exc:
        print(f"stagecheck loop: {exc}", file=sys.stderr)
        return 2
    if summary.path:
        say(f"loop: summary written to {summary.path}")
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
