"""`python -m standin`: serve the stand-in platform in the foreground."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterable

from .errors import StandinError
from .faults import FAULTS
from .server import DEFAULT_BACKLOG, serve
from .variants import DEFAULT_VARIANT, VARIANTS, check_combination


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m standin",
        description="Serve the stand-in AI agent platform (backend, auth and WebSocket) "
                    "in one of its variants, with optional named faults.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s; 0 picks one)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in a temporary folder)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME",
                        help="switch a named fault on (repeatable; see --list-faults)")
    parser.add_argument("--version", dest="platform_version", default="1.0.0",
                        help="the version the health endpoints report (default %(default)s)")
    parser.add_argument("--tls-cert", metavar="FILE", help="serve https/wss with this certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="the certificate's private key")
    parser.add_argument("--variant", default=DEFAULT_VARIANT, metavar="NAME",
                        help="the platform's shapes to play (default %(default)s; "
                             "see --list-variants)")
    parser.add_argument("--backlog", type=int, default=DEFAULT_BACKLOG,
                        help="connections that may wait to be accepted (default %(default)s; "
                             "the kernel caps it at net.core.somaxconn)")
    parser.add_argument("--list-faults", action="store_true", help="list the faults and exit")
    parser.add_argument("--list-variants", action="store_true",
                        help="list the variants and exit")
    return parser


def _listed(lines: Iterable[str]) -> int:
    """A listing on stdout; a reader that stops early (`| head`) ends it quietly, as it asked."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's own advice: point stdout at devnull so that the flush at exit cannot fail too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def main(argv: list[str] | None = None) -> int:
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:  # a background job of a script:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C still stops it
    args = _parser().parse_args(argv)
    if args.list_faults:
        width = max(map(len, FAULTS))
        return _listed(f"{fault.name:<{width}}  {fault.clause}" for fault in FAULTS.values())
    if args.list_variants:
        width = max(map(len, VARIANTS))
        return _listed(f"{variant.name:<{width}}  {variant.description} ({variant.era})"
                       for variant in VARIANTS.values())
    try:
        check_combination(args.variant, args.fault)
    except StandinError as exc:
        print(f"standin: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"standin: port {args.port} is out of range 0-65535", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("standin: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        serve(args.fault, args.database_url, args.host, args.port, args.platform_version, tls,
              announce=lambda line: print(line, flush=True), variant=args.variant,
              backlog=args.backlog)
    except StandinError as exc:
        print(f"standin: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
