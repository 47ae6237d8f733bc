"""behave fixtures: the run (settings, target, clients, and the report at the end) and each
scenario (log, world, record; sessions closed whatever happened)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from behave import fixture
from behave.runner import Context

from ..client.descriptors import raise_descriptor_limit
from ..client.exchanges import ExchangeLog
from ..client.http import HttpClient
from ..client.redact import Redactor
from ..config.settings import Settings, load_settings
from ..config.target import Target
from ..errors import ConfigError
from ..platform.controls import check_endpoints
from ..platform.users import end_scenario_users, largest_crowd, users_of_scenario
from ..report.build import tag_expression_of
from ..run.record import RunRecorder
from ..run.world import RunState, World
from ..vocabulary import TargetKind
from .conclude import conclude, open_history
from .probes import probe_version
from .selection import behavex_worker, select_part
from .target import open_target
from .workers import (
    STOPPED_ELSEWHERE,
    before_scenario,
    end_claims,
    open_claims,
    quiet_once_shared,
)

DESTRUCTIVE_LEFT_OUT = {
    False: "left out by policy: it writes data on the target, and -D allow_destructive=false "
           "keeps such scenarios from running",
    True: "left out by policy: it writes data, and never runs against production",
}


def _open(context: Context, stack: contextlib.ExitStack) -> tuple[Settings, Target, HttpClient]:
    """The settings, the target (the stand-in started when local) and the recording client;
    on a deployed target, the operator's bypass key tried once and the URLs proven to serve the
    platform (`check_endpoints`). A ConfigError is said in one
    sentence on stderr and kept for the runner's verdict line (nothing is judged)."""
    try:
        settings = load_settings(context.config.userdata)
        target = stack.enter_context(open_target(
            settings, largest_crowd(context._runner.features)))
        log = ExchangeLog(Redactor(settings.secrets + target.secrets))
        tls = any(url.startswith(("https:", "wss:"))
                  for url in (target.backend_url, target.auth_url, target.ws_url))
        http = HttpClient(log, settings.http_timeout, settings.connect_timeout,  # certificates
                          verify=tls and not settings.insecure_tls,  # loaded only for TLS
                          proxies=settings.target != TargetKind.LOCAL)
        stack.callback(http.close)
        if settings.target != TargetKind.LOCAL:  # the stand-in's own URLs and key are right
            check_endpoints(http, target, settings.connect_timeout,
                            verify_tls=tls and not settings.insecure_tls)
    except ConfigError as exc:
        _refused(context, exc)
        raise
    return settings, target, http


def _refused(context: Context, exc: ConfigError) -> None:
    """A ConfigError said in one sentence on stderr and kept for the runner's verdict line."""
    print(f"stagecheck: {exc}", file=sys.stderr, flush=True)
    context.gate_not_judged = str(exc)


@fixture(name="stagecheck.run")
def run_fixture(context: Context) -> Iterator[RunState]:
    """Check the settings, open the target (starting the stand-in when local) and the clients;
    after the run, write the report while the target is still up for the probes."""
    recorder = RunRecorder()
    raise_descriptor_limit()
    with contextlib.ExitStack() as stack:
        settings, target, http = _open(context, stack)
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        context.run = RunState(settings, target, http, loop, recorder)
        context.run.version_at_start = probe_version(context.run)  # before the history says running
        try:
            claims, pool = open_claims(context, settings, target)
        except ConfigError as exc:
            _refused(context, exc)
            raise
        context.gate_claims, context.gate_pool = claims, pool
        part = settings.partial or behavex_worker(context.config.userdata)
        if part and claims is None:  # a behavex worker's part: partial results of the selection
            context.gate_shard = select_part(context._runner.features, context.config)
        history = None if settings.shard or part else open_history(  # a shard or a part is
            context.run, recorder, tag_expression_of(context.config))  # merged: the merge records it
        try:
            yield context.run
        finally:
            assemble = end_claims(context, claims, pool, recorder.run_id) if claims else None
            context.gate_outcome = conclude(context, context.run, recorder, history, assemble)
            if not getattr(context._runner, "says_verdict", False):  # another runner: say it here
                print(context.gate_outcome.line(), file=sys.__stdout__ or sys.stdout, flush=True)


@fixture(name="stagecheck.scenario")
def scenario_fixture(context: Context) -> Iterator[World]:
    """A fresh exchange log and world; every session the scenario opened is closed after it."""
    run: RunState = context.run
    record = run.recorder.begin(context.scenario)
    claims = getattr(context, "gate_claims", None)
    if claims is not None and not before_scenario(context, claims):  # another process's
        context.scenario.skip("run by another worker of this run")
    elif "destructive" in context.scenario.effective_tags and not run.settings.allow_destructive:
        record.left_out = DESTRUCTIVE_LEFT_OUT[run.settings.target == TargetKind.PRODUCTION]
        context.scenario.skip(record.left_out)
    elif claims is not None and claims.stopped():
        record.not_reached = STOPPED_ELSEWHERE
        context.scenario.skip(record.not_reached)
    log = ExchangeLog(run.http.log.redact)
    run.http.log = log
    context.world = World(log=log)
    # Users of its own, unique per run and scenario: no verdict depends on the order.
    users = users_of_scenario(f"{run.recorder.run_id[-6:]}-{len(run.recorder.records)}")
    try:
        yield context.world
    finally:
        if claims is not None:
            claims.done(context.scenario, stop=context.config.stop
                        and context.scenario.status.has_failed())
            quiet_once_shared(context)
        end_scenario_users(users)
        for session in context.world.sessions.to_close:
            session.close()
        record.finished = time.perf_counter()
        record.exchanges = list(log.exchanges)
        record.checks = log.checks
        record.key_finding = context.world.key_finding
        record.degraded = list(context.world.degraded)
        record.measures = dict(context.world.measures)


def record_step(context: Context, step: Any) -> None:
    """After each step: how many checks it made (so that the report can show a passing Then
    step that checked nothing), and its exchanges, redacted, attached for the formatters that
    show attachments (behave's JSON, Allure, the HTML formatter)."""
    record = context.run.recorder.records.get(id(context.scenario))
    if record is None:
        return
    log = context.world.log
    record.step_checks[id(step)] = log.checks - sum(record.step_checks.values())
    new = log.exchanges[record.attached:]
    record.attached = len(log.exchanges)
    if new:
        context.attach("application/json",
                       json.dumps([e.to_dict() for e in new], indent=1).encode("utf-8"))
