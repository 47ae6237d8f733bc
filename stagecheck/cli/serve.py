"""`stagecheck serve`: the release gate as a small HTTP service for release pipelines (Argo
Rollouts, Flagger, Spinnaker), each run a behave process with the service's settings."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

import uvicorn
from behave.configuration import Configuration

from ..errors import ConfigError
from ..run.settings import is_loopback, load_settings
from .app import ServiceConfig, create_app
from .runs import TOKEN_ENV
from .targets import check_service_targets

__all__ = ["ServiceConfig", "create_app", "serve_main"]
MIN_TOKEN = 16


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def serve_main(argv: list[str]) -> int:
    """`stagecheck serve [--host H] [--port P] [-D setting=value …]`."""
    parser = argparse.ArgumentParser(
        prog="stagecheck serve", allow_abbrev=False,
        description="Run the release gate on demand over HTTP (Argo Rollouts, Flagger, "
                    f"Spinnaker). Every endpoint but /health needs {TOKEN_ENV} as a bearer token.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                        "%(default)s, loopback only)")
    parser.add_argument("--port", type=int, default=8787, help="port (default %(default)s; 0 "
                        "picks a free one)")
    parser.add_argument("-D", dest="define", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting, as for behave; given to every run")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    if len(token) < MIN_TOKEN:
        print(f"stagecheck serve: set {TOKEN_ENV} to a secret of at least {MIN_TOKEN} characters; "
              "every endpoint but /health asks for it", file=sys.stderr)
        return 2
    define_args = [arg for pair in args.define for arg in ("-D", pair)]
    try:
        userdata = Configuration(command_args=list(define_args), load_config=True).userdata
        settings = load_settings(userdata)
        check_service_targets(define_args, os.environ)
    except ConfigError as exc:
        print(f"stagecheck serve: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        print(f"stagecheck serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    folder = (Path(settings.report_dir) / "service").resolve()
    app = create_app(ServiceConfig(settings, define_args, token, folder, dict(os.environ)))
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    targets = ", ".join(["local", "local+FAULT", *settings.service_targets])
    print(f"stagecheck serve: listening on http://{host}:{port} · targets {targets} · runs in "
          f"{folder}", flush=True)
    if not is_loopback(args.host):
        print("stagecheck serve: listening beyond loopback over plain HTTP: put a TLS proxy in "
              "front, the token and the verdicts travel in clear", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=True,
                                           timeout_graceful_shutdown=40))
    server.run(sockets=[sock])
    return 0
