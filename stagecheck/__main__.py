"""The `stagecheck` command (also `python -m stagecheck`):

- `stagecheck loop [behave options] --until-green --max-runs N --interval S [--on-new-deploy]
  [--max-time S]`: run the gate in a loop until it is green;
- `stagecheck report PATH/results.json [--format md|html|json] [-o FILE]`: render again;
- `stagecheck --version`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from .errors import ConfigError, LoopError
from .history.loop import DeployLoop, LoopOptions
from .report.__main__ import main as report_main


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        return report_main(argv[1:], prog="stagecheck report")
    parser = argparse.ArgumentParser(
        prog="stagecheck", allow_abbrev=False,
        description="The release gate's commands. The gate itself runs with behave: "
                    "behave --tags=@p1 --stop.")
    parser.add_argument("--version", action="version", version=f"stagecheck {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("report", help="render a report again from a saved results.json")
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
