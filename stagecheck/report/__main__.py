"""`python -m stagecheck.report PATH/results.json [--format md|html|json]`: render again."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ResultsFileError
from .model import RunResult
from .render import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stagecheck.report",
                                     description="Render a report again from a saved results.json.")
    parser.add_argument("results", type=Path, help="path to results.json")
    parser.add_argument("--format", choices=["md", "html", "json"], default="md")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        result = RunResult.from_json(args.results.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"stagecheck.report: cannot read {args.results}: {exc.strerror}", file=sys.stderr)
        return 2
    except ResultsFileError as exc:
        print(f"stagecheck.report: {args.results} is not a stagecheck results file: {exc}",
              file=sys.stderr)
        return 2
    text = render(result, args.format)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
