"""The stand-in's state: everything a request handler may read, and the faults switched on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .auth import TokenService
from .db import BASE_REVISION, Database
from .faults import FaultSwitch
from .variants import DEFAULT_VARIANT, VARIANTS, Variant, check_combination

DEFAULT_VERSION = "1.0.0"


@dataclass
class StandinState:
    """Everything a request handler may read: database, tokens, variant, faults, version,
    and the timings tests may shorten."""

    database: Database
    tokens: TokenService
    bypass_key: str
    faults: FaultSwitch = field(default_factory=FaultSwitch)
    variant: Variant = VARIANTS[DEFAULT_VARIANT]
    version: str = DEFAULT_VERSION
    slow_delay_s: float = 3.0
    keepalive_interval_s: float = 30.0
    refusal_close_delay_s: float = 0.1
    agent_slow_completion_s: float = 11.0
    thinking_frames: int = 1  # agent_thinking frames per run (a model streaming its tokens)
    max_sessions: int = 0
    # user-lockout: per user, the WebSocket managers of its sessions and agent runs, freed only
    # after minutes idle (websocket_core/websocket_manager_factory.py caps them at 20)
    user_managers: dict[str, int] = field(default_factory=dict)
    user_manager_cap: int = 20
    open_sessions: int = 0
    latency_s: float = 0.0  # added to every HTTP answer: a stand-in that feels remote (benchmarks)
    agent_run_s: float = 0.0  # an agent run over a live session lasts at least this (benchmarks)
    # latency-over-hard-budget / latency-over-soft-budget: one answer in ten of each kind is late
    tail_hard_delay_s: float = 2.5
    tail_soft_delay_s: float = 1.2
    tail_counts: dict[str, int] = field(default_factory=dict)
    live_sessions: set[Any] = field(default_factory=set)    # the open WebSocket sessions
    agent_threads: set[str] = field(default_factory=set)    # threads that have had an agent run
    busy_sessions: int = 8        # slow-under-load: more open sessions than this is "under load"
    busy_frame_delay_s: float = 2.5
    # messages-lost-on-reconnect: what a user's closed sessions stored, deleted when they return
    lost_on_reconnect: dict[str, list[int]] = field(default_factory=dict)
    # hang: answers held until the server stops, then let go (never cancelled mid-handler)
    stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tail_delay(self, kind: str) -> float:
        """How long to hold this answer back: every tenth answer of a kind under a latency fault,
        so that the 95th percentile of any ten consecutive samples is late, and nothing else."""
        if "latency-over-hard-budget" in self.faults:
            delay = self.tail_hard_delay_s
        elif "latency-over-soft-budget" in self.faults:
            delay = self.tail_soft_delay_s
        else:
            return 0.0
        self.tail_counts[kind] = self.tail_counts.get(kind, 0) + 1
        return delay if self.tail_counts[kind] % 10 == 0 else 0.0

    def set_faults(self, names: Iterable[str]) -> None:
        """Switch exactly these faults on, bringing the database schema along when needed;
        raises UnknownFaultError or IncompatibleFaultError and then changes nothing."""
        names = list(names)
        check_combination(self.variant.name, names)
        with self._lock:
            switched_on, switched_off = self.faults.replace(names)
            self.database.sessions_broken = False
            self.database.down = "db-down" in self.faults
            if "missing-mcp-tables" in switched_on:
                self.database.migrate(BASE_REVISION)
            elif "missing-mcp-tables" in switched_off:
                self.database.migrate("head")
                self.database.seed()
            self.database.sessions_broken = "db-sessions-broken" in self.faults

    def prepare_database(self) -> None:
        """Apply the migrations the active faults allow, and seed what discovery needs."""
        if "missing-mcp-tables" in self.faults:
            self.database.migrate(BASE_REVISION)
        else:
            self.database.migrate("head")
            self.database.seed()
        self.database.down = "db-down" in self.faults
        self.database.sessions_broken = "db-sessions-broken" in self.faults

