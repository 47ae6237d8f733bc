"""The history database's schema (SQLite), and the upgrades from older schemas."""

from __future__ import annotations

import sqlite3

from ..config.timeouts import HISTORY_BUSY_S

HISTORY_SCHEMA_VERSION = 4


BUSY_TIMEOUT_S = HISTORY_BUSY_S


SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    target_key TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    state TEXT NOT NULL,                -- running, finished, interrupted
    verdict TEXT,
    revenue_at_risk REAL,
    revenue_unverified REAL,
    scenarios INTEGER,
    passed INTEGER,
    failed INTEGER,
    unverified INTEGER,
    target_version TEXT,
    tag_expression TEXT,
    host TEXT,                          -- where the run's process is (schema 2)
    pid INTEGER,
    process_start TEXT,                 -- the process's start time, so a reused pid is not it
    expected_version TEXT               -- the build being released, when the run was told (schema 4)
);
CREATE TABLE IF NOT EXISTS scenario_runs (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    scenario_key TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_s REAL NOT NULL,
    PRIMARY KEY (run_id, scenario_key)
);
"""


# What a scenario measured besides its duration (a load run's percentiles), so that a markedly
# slower p95 is noticed as a slower duration is (schema 3).
SCHEMA_2_TO_3 = """
CREATE TABLE IF NOT EXISTS scenario_measures (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    scenario_key TEXT NOT NULL,
    measure TEXT NOT NULL,              -- "welcome p95"
    value REAL NOT NULL,                -- seconds
    PRIMARY KEY (run_id, scenario_key, measure)
);
"""


# The past runs of a target, newest first; scenario outcomes are then read by primary key.
INDICES = """
CREATE INDEX IF NOT EXISTS runs_by_target ON runs (target_key, started_at, run_id);
CREATE INDEX IF NOT EXISTS runs_running ON runs (state) WHERE state = 'running';
"""


# The build each run was told it releases, so that one reported version for builds known to
# differ is noticed (schema 4).
SCHEMA_3_TO_4 = """
ALTER TABLE runs ADD COLUMN expected_version TEXT;
"""


SCHEMA_1_TO_2 = """
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN process_start TEXT;
"""

UPGRADES = (SCHEMA_1_TO_2, SCHEMA_2_TO_3, SCHEMA_3_TO_4)  # from schema n to n + 1: UPGRADES[n - 1]


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Statements one by one, inside the caller's transaction (executescript would commit)."""
    for statement in script.split(";"):
        lines = [line.split("--")[0] for line in statement.splitlines()]
        if "".join(lines).strip():
            db.execute("\n".join(lines))
