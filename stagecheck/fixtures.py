"""behave fixtures: the run (settings, target, clients) and each scenario (log, world,
sessions closed whatever happened)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator

from behave import fixture
from behave.runner import Context

from .config import load_settings
from .errors import ConfigError
from .exchanges import ExchangeLog, Redactor
from .http import HttpClient
from .target import open_target
from .world import RunState, World


@fixture(name="stagecheck.run")
def run_fixture(context: Context) -> Iterator[RunState]:
    """Check the settings, open the target (starting the stand-in when local) and the clients."""
    with contextlib.ExitStack() as stack:
        try:
            settings = load_settings(context.config.userdata)
            target = stack.enter_context(open_target(settings))
        except ConfigError as exc:
            print(f"stagecheck: {exc}", file=sys.stderr, flush=True)
            raise
        log = ExchangeLog(Redactor(settings.secrets + target.secrets))
        http = HttpClient(log, settings.http_timeout, settings.connect_timeout)
        stack.callback(http.close)
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        context.run = RunState(settings, target, http, loop)
        yield context.run


@fixture(name="stagecheck.scenario")
def scenario_fixture(context: Context) -> Iterator[World]:
    """A fresh exchange log and world; every session the scenario opened is closed after it."""
    run: RunState = context.run
    log = ExchangeLog(run.http.log.redact)
    run.http.log = log
    context.world = World(log=log)
    try:
        yield context.world
    finally:
        for session in context.world.sessions_to_close:
            session.close()
