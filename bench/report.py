"""Benchmark: the end of a run with many scenarios, in one process as at the end of a real run:
build the result from behave's model, what changed against 30 recorded runs, render and write the
three reports, and record the run in the history.

Run by hand: `python bench/report.py [--scenarios 2000 10000] [--repeat 5]`. Everything stays on
loopback (the health probe asks a stand-in started here). Goal: 10,000 scenarios in under 1 s.
The template cache is cleared before every repetition, so each one loads its templates as a new
run does (from the bytecode cache in the user's cache folder); the garbage collector is paused
as the gate's `conclude()` pauses it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from behave.model_core import Status as BehaveStatus
from behave.parser import parse_feature

from stagecheck.client.exchanges import ExchangeLog
from stagecheck.client.redact import Redactor
from stagecheck.config.settings import Settings
from stagecheck.config.target import Target
from stagecheck.gate.conclude import collection_paused, result_of
from stagecheck.history.changes import compute_changes
from stagecheck.history.store import History
from stagecheck.outputs.reports import write_reports
from stagecheck.report.render import environment
from stagecheck.run.record import RunRecorder
from stagecheck.run.world import RunState
from stagecheck.vocabulary import Channel
from standin import start_standin

PER_FEATURE = 50
AREAS = ["agents", "chat", "auth", "platform"]


def features(count: int) -> list[Any]:
    """`count` scenarios of three steps each, parsed by behave as the real features are."""
    parsed = []
    for number in range(0, count, PER_FEATURE):
        lines = [f"@p{1 + number // PER_FEATURE % 6} @mrr:120k @area:{AREAS[number % 4]}",
                 f"Feature: Capability {number // PER_FEATURE}", ""]
        for i in range(number, min(count, number + PER_FEATURE)):
            lines += [f"  Scenario: Scenario {i}", "    Given a signed-in user",
                      f"    When the user asks for thing {i}", "    Then the thing is shown", ""]
        parsed.append(parse_feature("\n".join(lines), filename=f"f{number}.feature"))
    return parsed


def a_run(parsed: list[Any], url: str, rng: random.Random, failing: float
          ) -> tuple[SimpleNamespace, RunRecorder]:
    """behave's context after a run where about `failing` of the scenarios failed."""
    recorder, log = RunRecorder(), ExchangeLog(Redactor())
    for feature in parsed:
        for scenario in feature.scenarios:
            failed = rng.random() < failing
            for step in scenario.steps:
                step.status, step.duration = BehaveStatus.passed, 0.01
            if failed:
                step = scenario.steps[-1]
                step.status = BehaveStatus.failed
                step.error_message = f"ASSERT FAILED: {url}/api/thing should answer 200, got 500"
            log.reset()
            log.record(Channel.HTTP, "POST", f"{url}/auth/e2e/test-auth", 200, 0.002,
                       '{"email": "release-gate@e2e.test"}', '{"access_token": "x"}')
            log.record(Channel.HTTP, "GET", f"{url}/api/thing", 500 if failed else 200, 0.003,
                       "", '{"detail": "boom"}' if failed else '{"ok": true}')
            record = recorder.begin(scenario)
            record.finished = record.started + rng.choice([0.05, 0.06, 0.2])
            record.exchanges, record.assertions = list(log.exchanges), 3
    config = SimpleNamespace(tags=["@p1"], stop=False, tag_expression=None)
    return SimpleNamespace(config=config, _runner=SimpleNamespace(features=parsed)), recorder


def one_end(count: int, repeat: int) -> list[dict[str, float]]:
    rng = random.Random(count)
    parsed = features(count)
    timings = []
    with start_standin() as standin, tempfile.TemporaryDirectory() as tmp:
        url = standin.urls.backend_url
        target = Target("local", url, url, standin.urls.ws_url)
        settings = Settings(report_dir=tmp)
        run = RunState(settings, target, None, asyncio.new_event_loop(), RunRecorder())  # type: ignore[arg-type]
        history = History(Path(tmp) / "history.sqlite")
        for _ in range(30):  # the recorded runs what changed compares against
            context, recorder = a_run(parsed, url, rng, 0.02)
            result = result_of(context, run, recorder)
            history.start(recorder.run_id, "local", result.facts.started_at, "@p1")
            history.finish(result, "local")
            time.sleep(1.0 / 30)  # distinct start times are not needed; rowid orders them
        for _ in range(repeat):
            context, recorder = a_run(parsed, url, rng, 0.02)
            environment.cache_clear()
            history.start(recorder.run_id, "local", "9999", "@p1")
            started = time.perf_counter()
            with collection_paused():  # as the gate's conclude() ends a run
                result = result_of(context, run, recorder)
                built = time.perf_counter()
                result.changes = compute_changes(result, history, "local")
                compared = time.perf_counter()
                write_reports(result, tmp)
                written = time.perf_counter()
                history.finish(result, "local")
                recorded = time.perf_counter()
            timings.append({"build": built - started, "what changed": compared - built,
                            "render and write": written - compared,
                            "history": recorded - written, "total": recorded - started})
        history.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", type=int, nargs="+", default=[2000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for count in args.scenarios:
        timings = one_end(count, args.repeat)
        parts = "  ".join(f"{name} {statistics.median(t[name] for t in timings):.3f} s"
                          for name in timings[0])
        total = statistics.median(t["total"] for t in timings)
        goal = f" (goal: under 1 s: {'met' if total < 1 else 'NOT met'})" if count >= 10_000 else ""
        print(f"{count} scenarios, median of {args.repeat}: {parts}{goal}")


if __name__ == "__main__":
    main()
