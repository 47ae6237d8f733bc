"""`stagecheck report PATH/results.json [--format md|html|json]` (or `python -m stagecheck.report`):
render a report again from a saved results.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ResultsFileError
from .model import RunResult
from .render import render


def main(argv: list[str] | None = None, prog: str = "python -m stagecheck.report") -> int:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Render a report again from a saved results.json.")
    parser.add_argument("results", type=Path, help="path to results.json")
    parser.add_argument("--format", choices=["md", "html", "json"], default="md")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        result = RunResult.from_json(args.results.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"{prog}: cannot read {args.results}: {exc.strerror}", file=sys.stderr)
        return 2
    except (ResultsFileError, UnicodeDecodeError) as exc:
        print(f"{prog}: {args.results} is not a stagecheck results file: {exc}", file=sys.stderr)
        return 2
    try:
        text = render(result, args.format)
    except Exception as exc:  # noqa: BLE001 - a results file that parsed but cannot be shown
        print(f"{prog}: {args.results} cannot be rendered: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 2
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"{prog}: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
