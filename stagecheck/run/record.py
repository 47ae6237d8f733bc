"""What the run records while it goes: its id and start, and per scenario the exchanges, the
number of checks and the key finding (read by the report at the end)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..client.exchanges import Exchange


@dataclass
class ScenarioRecord:
    """What the scenario fixture saw of one scenario while it ran."""

    started: float
    finished: float = 0.0
    exchanges: list[Exchange] = field(default_factory=list)
    checks: int = 0
    key_finding: str = ""
    degraded: list[str] = field(default_factory=list)  # why it is degraded, if it is
    measures: dict[str, float] = field(default_factory=dict)  # "welcome p95 s" -> 0.041
    step_checks: dict[int, int] = field(default_factory=dict)  # id(step) -> checks it made
    attached: int = 0  # exchanges already attached to a step
    left_out: str = ""  # why the run's policy kept it from running (it writes data, …)
    not_reached: str = ""  # why it was never started (another worker stopped the run, …)


def new_run_id(random_digits: int = 1) -> str:
    """`<UTC second>Z-<hex>`: the microsecond in five hex digits, then `random_digits` random
    ones, so that ids sort in the order runs began, two runs in one second included (retention
    keeps the newest by id). The gate's runs: 6 hex digits; the service's: 8."""
    now = datetime.now(UTC)
    return (f"{now:%Y%m%dT%H%M%SZ}-{now.microsecond:05x}"
            f"{secrets.randbelow(16 ** random_digits):0{random_digits}x}")


@dataclass
class RunRecorder:
    """The run's id and start, and per-scenario records keyed by the scenario's identity."""

    run_id: str = field(default_factory=new_run_id)
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    records: dict[int, ScenarioRecord] = field(default_factory=dict)

    def begin(self, scenario: Any) -> ScenarioRecord:
        record = ScenarioRecord(started=time.perf_counter())
        self.records[id(scenario)] = record
        return record
