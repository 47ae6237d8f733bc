"""`stagecheck catalog [--since REF] [-o DIR]`: the living catalog for product review, written as
catalog.html (one self-contained page), catalog.md and catalog.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..catalog.build import NOT_PASSED_RUNS, build_catalog
from ..catalog.render import render_catalog
from ..errors import ConfigError, HistoryError
from ..vocabulary import ExitCode, ReportFormat
from ..wording import plural

HELP = "write the catalog of what the gate promises, for product review"
DESCRIPTION = ("Write the catalog of the feature files for product review: capabilities, features "
               "and scenarios with tier, revenue, area and owner; the stand-in faults that prove "
               "each Then step; each scenario's standing in the run history; what changed since "
               "a git ref; and a review list. One self-contained HTML page, Markdown and JSON.")
DEFAULT_OUTPUT = Path("reports")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", type=Path, default=Path("features"),
                        help="the folder of .feature files (default: features)")
    parser.add_argument("--history", type=Path, default=None,
                        help="the run history (default: history.sqlite in the output folder, "
                             "when there is one)")
    parser.add_argument("--target", default="", help="whose history to show (a target key; "
                        "default: the target of the newest run)")
    parser.add_argument("--since", default="", metavar="REF",
                        help="a git ref or tag: list what changed in the feature files since it")
    parser.add_argument("--not-passed-runs", type=int, default=NOT_PASSED_RUNS, metavar="N",
                        help=f"review scenarios not passed in N runs (default {NOT_PASSED_RUNS})")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help="the folder catalog.html, catalog.md and catalog.json go to "
                             "(default: reports)")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    prog = args.prog
    history = args.history or args.output / "history.sqlite"
    if args.not_passed_runs < 1:
        print(f"{prog}: --not-passed-runs must be 1 or more", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    try:
        catalog = build_catalog(args.features, history, args.since, args.target,
                                args.not_passed_runs)
    except (ConfigError, HistoryError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    written = []
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        for fmt in (ReportFormat.HTML, ReportFormat.MD, ReportFormat.JSON):
            path = args.output / f"catalog.{fmt}"
            path.write_text(render_catalog(catalog, fmt), encoding="utf-8")
            written.append(str(path))
    except OSError as exc:
        print(f"{prog}: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    counts = catalog.counts
    print(f"catalog: {counts['scenarios']} scenarios in {counts['features']} features, "
          f"{counts['proven_then_steps']} of {counts['then_steps']} Then steps proven, "
          + (f"{plural(len(catalog.changes), 'change')} since {args.since}, " if args.since
             else "")
          + f"{len(catalog.review)} for review · {', '.join(written)}")
    return ExitCode.GO
