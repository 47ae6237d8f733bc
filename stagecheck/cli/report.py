"""`stagecheck report PATH/results.json [--format md|html|json] [-o FILE]` (also
`python -m stagecheck.report`): render a report again from a saved results.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ResultsFileError
from ..report.model import RunResult
from ..report.render import render
from ..vocabulary import ExitCode, ReportFormat

HELP = "render a report again from a saved results.json"
DESCRIPTION = "Render a report again from a saved results.json."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="path to results.json")
    parser.add_argument("--format", choices=list(ReportFormat), default=ReportFormat.MD)
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")


def main(argv: list[str] | None = None, prog: str = "python -m stagecheck.report") -> int:
    """`python -m stagecheck.report`: the same command on its own."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(prog=prog)
    return run(parser.parse_args(argv), [])


def run(args: argparse.Namespace, rest: list[str]) -> int:
    prog = args.prog
    try:
        result = RunResult.from_json(args.results.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"{prog}: cannot read {args.results}: {exc.strerror}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    except (ResultsFileError, UnicodeDecodeError) as exc:
        print(f"{prog}: {args.results} is not a stagecheck results file: {exc}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    try:
        text = render(result, args.format)
    except Exception as exc:  # noqa: BLE001 - a results file that parsed but cannot be shown
        print(f"{prog}: {args.results} cannot be rendered: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return ExitCode.NOT_JUDGED
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"{prog}: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return ExitCode.NOT_JUDGED
    else:
        sys.stdout.write(text)
    return ExitCode.GO


if __name__ == "__main__":
    sys.exit(main())
