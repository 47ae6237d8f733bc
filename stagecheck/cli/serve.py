"""`stagecheck serve`: the release gate as a small HTTP service for release pipelines (Argo
Rollouts, Flagger, Spinnaker), each run a behave process with the service's settings."""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn
from behave.configuration import Configuration

from ..config.settings import load_settings
from ..config.values import is_loopback
from ..errors import ConfigError
from ..service.app import ServiceConfig, create_app
from ..service.guard import (
    FD_RESERVE,
    MAX_CONNECTIONS,
    REQUEST_TIMEOUT_S,
    ConnectionLimits,
    bound_logs,
    uvicorn_options,
)
from ..service.runs import TOKEN_ENV, RunQueue
from ..service.targets import check_service_targets
from ..vocabulary import ExitCode, TargetKind

MIN_TOKEN = 16
GRACE_S = 20.0  # SIGTERM to exit, under Kubernetes' default terminationGracePeriodSeconds (30)
MIN_GRACE_S = 5.0
ANSWER_S = 3.0  # of the grace, what is left to answer and exit once the runs are stopped


class _Server(uvicorn.Server):
    """uvicorn's server, telling the runs to stop as soon as a signal asks the service to: the
    runs are interrupted first, and their waiting requests answered, before connections close."""

    def __init__(self, config: uvicorn.Config, queue: RunQueue) -> None:
        super().__init__(config)
        self.queue = queue

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.queue.stop_soon()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


HELP = "run the gate on demand over HTTP for release pipelines"
DESCRIPTION = ("Run the release gate on demand over HTTP (Argo Rollouts, Flagger, Spinnaker). "
               f"Every endpoint but /health needs {TOKEN_ENV} as a bearer token.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                        "%(default)s, loopback only)")
    parser.add_argument("--port", type=int, default=8787, help="port (default %(default)s; 0 "
                        "picks a free one)")
    parser.add_argument("-D", dest="define", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting, as for behave; given to every run")
    parser.add_argument("--grace", type=float, default=GRACE_S, metavar="SECONDS",
                        help="on SIGTERM, end within this many seconds (default %(default)g): "
                        "runs are interrupted at once (each writes its report) and killed if "
                        f"still going {ANSWER_S:g} s before the end")
    parser.add_argument("--request-timeout", type=_positive(float), default=REQUEST_TIMEOUT_S,
                        metavar="SECONDS", help="close a connection whose request (head and body) "
                        "has not arrived within this time (default %(default)s)")
    parser.add_argument("--max-connections", type=_positive(int), default=MAX_CONNECTIONS,
                        metavar="N", help="connections held at once; more are answered 503 "
                        "(default %(default)s, lowered to leave file descriptors free)")


def _positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"give a positive number, not {text!r}")
        return value
    return parse


def token_problem(token: str) -> str:
    """Why the service token cannot be used, in one sentence (never quoting it); "" if it can."""
    if token and (token != token.strip() or not token.strip()):
        return (f"{TOKEN_ENV} begins or ends with whitespace (a value read from a file often keeps "
                "its last newline): no caller's token would ever match it; set it again without it")
    if not (token.isascii() and token.isprintable()):
        return (f"{TOKEN_ENV} holds a character outside printable ASCII: an Authorization header "
                "cannot carry it; choose another secret")
    if len(token) < MIN_TOKEN:
        return (f"set {TOKEN_ENV} to a secret of at least {MIN_TOKEN} characters; every endpoint "
                "but /health asks for it")
    return ""


def run(args: argparse.Namespace, rest: list[str]) -> int:
    """`stagecheck serve [--host H] [--port P] [-D setting=value …]`."""
    token = os.environ.get(TOKEN_ENV, "")
    problem = token_problem(token)
    if problem:
        print(f"stagecheck serve: {problem}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    if not (math.isfinite(args.grace) and args.grace >= MIN_GRACE_S):
        print(f"stagecheck serve: --grace must be at least {MIN_GRACE_S:g} seconds, not "
              f"{args.grace:g}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    define_args = [arg for pair in args.define for arg in ("-D", pair)]
    try:
        userdata = Configuration(command_args=list(define_args), load_config=True).userdata
        settings = load_settings(userdata)
        check_service_targets(define_args, os.environ)
    except ConfigError as exc:
        print(f"stagecheck serve: {exc}", file=sys.stderr)
        return ExitCode.NOT_JUDGED
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        print(f"stagecheck serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return ExitCode.NOT_JUDGED
    folder = (Path(settings.report_dir) / "service").resolve()
    app = create_app(ServiceConfig(settings, define_args, token, folder, dict(os.environ),
                                   args.grace - ANSWER_S))
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    targets = ", ".join([TargetKind.LOCAL, f"{TargetKind.LOCAL}+FAULT", *settings.service_targets])
    print(f"stagecheck serve: listening on http://{host}:{port} · targets {targets} · runs in "
          f"{folder}", flush=True)
    if not is_loopback(args.host):
        print("stagecheck serve: listening beyond loopback over plain HTTP: put a TLS proxy in "
              "front, the token and the verdicts travel in clear", flush=True)
    limits = ConnectionLimits(args.request_timeout, args.max_connections).within_descriptors()
    if limits.max_connections < args.max_connections:
        print(f"stagecheck serve: holding at most {limits.max_connections} connections, not "
              f"{args.max_connections}: the open-file limit (ulimit -n) leaves no more with "
              f"{FD_RESERVE} kept for the runs", flush=True)
    server = _Server(uvicorn.Config(app, log_level="info", access_log=True,
                                    timeout_graceful_shutdown=int(args.grace - ANSWER_S + 1),
                                    **uvicorn_options(limits)), app.state.service.queue)
    bound_logs()  # after uvicorn.Config, which sets the loggers up
    server.run(sockets=[sock])
    return ExitCode.GO
