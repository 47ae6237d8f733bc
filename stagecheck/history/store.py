"""Run history in an embedded SQLite database (the standard library's sqlite3): each run's facts,
figures and per-scenario outcomes, so that a report can say what changed and the loop what it
has tested.

A run is inserted as `running`, with its host and process, when it starts, and completed when
its report is written. A run left `running` is marked `interrupted` only once its process is
gone (another run on the same host finds it dead), so runs at the same time on one history
never mislabel each other; reports compare only against runs that completed. SQLite's journal
keeps the file whole whatever happens to a writer, and every write takes the lock up front.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import HistoryError
from ..report.model import RunResult
from ..vocabulary import RAN, RecordState, Status

SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30

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
    process_start TEXT                  -- the process's start time, so a reused pid is not it
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
# The past runs of a target, newest first; scenario outcomes are then read by primary key.
INDICES = """
CREATE INDEX IF NOT EXISTS runs_by_target ON runs (target_key, started_at, run_id);
CREATE INDEX IF NOT EXISTS runs_running ON runs (state) WHERE state = 'running';
"""
SCHEMA_1_TO_2 = """
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN process_start TEXT;
"""
# Runs a report compares against: those that wrote their results (finished, or stopped by
# Ctrl-C), never one still running or killed mid-way.
COMPLETED = "finished_at IS NOT NULL AND state != 'running'"


@dataclass(frozen=True)
class PastRun:
    run_id: str
    started_at: str
    state: str
    verdict: str | None
    revenue_at_risk: float | None
    scenarios: int | None
    passed: int | None
    target_version: str | None


@dataclass(frozen=True)
class PastOutcome:
    run_id: str
    status: str
    duration_s: float
    target_version: str | None


@dataclass(frozen=True)
class ScenarioHistory:
    """One scenario of this run against its outcomes in the past runs where it ran (newest
    first), as far as what changed needs them; computed in SQL (see `History.histories`)."""

    position: int             # its place in the run
    last_status: str | None   # the newest past outcome, None if it never ran before
    failing_streak: int       # past outcomes failing in a row, newest first
    since_run_id: str | None  # the oldest run of that streak
    since_started_at: str | None
    usual_durations: tuple[float, ...]  # its last passing durations (FLAKY_WINDOW)
    same_version_runs: int    # past outcomes on this target version looked at for flips
    same_version_flips: int   # flips among those
    newest_same_version_passed: bool | None


def scenario_key(feature: str, name: str) -> str:
    return f"{feature} / {name}"


def target_key(target: str, backend_url: str, standin_faults: tuple[str, ...] = (),
               standin_variant: str = "") -> str:
    """The embedded stand-in is one target whatever port it got (one per variant and set of
    faults: a stand-in with a fault is another platform); elsewhere, the backend URL."""
    if target != "local":
        return backend_url
    variant = f"@{standin_variant}" if standin_variant and standin_variant != "default" else ""
    return "local" + variant + "".join(f"+{fault}" for fault in sorted(standin_faults))


def process_start(pid: int) -> str:
    """When a process started (Linux: clock ticks since boot), "" where that is unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name


def process_alive(host: str | None, pid: int | None, started: str | None) -> bool:
    """Whether a run's process may still be running: on another host we cannot tell, so yes."""
    if host != socket.gethostname() or pid is None:
        return host is not None and host != socket.gethostname()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    return not started or process_start(pid) in ("", started)


class History:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open {self.path}: "
                               f"{getattr(exc, 'strerror', None) or exc}") from None
        with self._write() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
        with self._write(immediate=True) as db:  # one process at a time creates or upgrades
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                _script(db, SCHEMA)
            elif version == 1:
                _script(db, SCHEMA_1_TO_2)
            elif version != SCHEMA_VERSION:
                raise HistoryError(f"{self.path} has history schema {version}; this stagecheck "
                                   f"writes schema {SCHEMA_VERSION}")
            _script(db, INDICES)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """A transaction (BEGIN IMMEDIATE: the write lock up front, waited for up to 30 s);
        a database problem becomes one HistoryError sentence."""
        try:
            if immediate:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            if self._db.in_transaction:
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise HistoryError(f"history database {self.path}: {str(exc).splitlines()[0]}"
                               ) from None

    def close(self) -> None:
        self._db.close()

    def start(self, run_id: str, key: str, started_at: str, tag_expression: str) -> None:
        """Record a run as running, with its host and process; runs left running by a process
        that is gone are marked interrupted."""
        pid = os.getpid()
        with self._write(immediate=True) as db:
            running = db.execute("SELECT run_id, host, pid, process_start FROM runs "
                                 "WHERE state = 'running'").fetchall()
            gone = [(run,) for run, host, other, started in running
                    if not process_alive(host, other, started)]
            db.executemany("UPDATE runs SET state = 'interrupted' WHERE run_id = ?", gone)
            db.execute("INSERT INTO runs (run_id, target_key, started_at, state, tag_expression, "
                       "host, pid, process_start) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                       (run_id, key, started_at, tag_expression, socket.gethostname(), pid,
                        process_start(pid)))

    def finish(self, result: RunResult, key: str) -> None:
        facts = result.facts
        values = {
            "target_key": key, "started_at": facts.started_at, "finished_at": facts.finished_at,
            "state": RecordState.INTERRUPTED if facts.interrupted else RecordState.FINISHED,
            "verdict": result.verdict.decision, "revenue_at_risk": result.impact.revenue_at_risk,
            "revenue_unverified": result.impact.revenue_unverified,
            "scenarios": len(result.scenarios),
            "passed": sum(s.status == Status.PASSED for s in result.scenarios),
            "failed": sum(s.failed for s in result.scenarios),
            "unverified": sum(s.unverified for s in result.scenarios),
            "target_version": facts.target_version, "tag_expression": facts.tag_expression}
        columns = ", ".join(values)
        with self._write(immediate=True) as db:
            done = db.execute(f"UPDATE runs SET ({columns}) = ({', '.join('?' * len(values))}) "
                              "WHERE run_id = ?", (*values.values(), facts.run_id))
            if done.rowcount == 0:
                db.execute(f"INSERT INTO runs (run_id, {columns}) VALUES "
                           f"(?, {', '.join('?' * len(values))})",
                           (facts.run_id, *values.values()))
            db.execute("DELETE FROM scenario_runs WHERE run_id = ?", (facts.run_id,))
            db.executemany("INSERT OR REPLACE INTO scenario_runs VALUES (?, ?, ?, ?, ?)",
                           [(facts.run_id, scenario_key(s.feature, s.name), s.name, str(s.status),
                             s.duration_s) for s in result.scenarios])

    # Retention (-D keep_runs) belongs here: a method deleting the oldest runs of a target;
    # their scenario_runs rows go with them (ON DELETE CASCADE, foreign keys are on).

    def past_runs(self, key: str, before: str, limit: int = 30,
                  exclude: str = "") -> list[PastRun]:
        """Completed runs on this target that started before `before` (and, within the same
        second, were recorded before the run `exclude`), newest first."""
        with self._write() as db:
            rows = db.execute(
                "SELECT run_id, started_at, state, verdict, revenue_at_risk, scenarios, passed, "
                "target_version FROM runs WHERE target_key = ? AND started_at <= ? AND "
                f"{COMPLETED} AND run_id != ? AND rowid < coalesce((SELECT rowid FROM runs "
                "WHERE run_id = ?), 9e18) ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (key, before, exclude, exclude, limit)).fetchall()
        return [PastRun(*row) for row in rows]

    def outcomes(self, run_ids: list[str]) -> dict[str, dict[str, PastOutcome]]:
        """scenario key -> run id -> outcome, for these runs."""
        found: dict[str, dict[str, PastOutcome]] = {}
        with self._write() as db:
            for run_id in run_ids:
                for key, status, duration, version in db.execute(
                        "SELECT s.scenario_key, s.status, s.duration_s, r.target_version "
                        "FROM scenario_runs s JOIN runs r USING (run_id) WHERE s.run_id = ?",
                        (run_id,)):
                    found.setdefault(key, {})[run_id] = PastOutcome(run_id, status, duration,
                                                                    version)
        return found

    def histories(self, past: list[PastRun], scenarios: list[tuple[str, str, float]],
                  version: str, window: int, factor: float) -> dict[int, ScenarioHistory]:
        """For this run's scenarios (key, status, duration) that ran, their history over the
        `past` runs (newest first), in one SQL query: only those where something may have
        changed (a failure, a status other than the last, flips, or a duration at least
        `factor` times the fastest usual one), keyed by the scenario's place in the run."""
        if not past or not scenarios:
            return {}
        ran = tuple(map(str, RAN))
        with self._write() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS current_run (position INTEGER PRIMARY "
                       "KEY, scenario_key TEXT, status TEXT, duration_s REAL)")
            db.execute("CREATE TEMP TABLE IF NOT EXISTS past_run (n INTEGER PRIMARY KEY, "
                       "run_id TEXT, started_at TEXT, target_version TEXT)")
            db.execute("DELETE FROM temp.current_run")
            db.execute("DELETE FROM temp.past_run")
            db.executemany("INSERT INTO temp.past_run VALUES (?, ?, ?, ?)",
                           ((n, r.run_id, r.started_at, r.target_version)
                            for n, r in enumerate(past)))
            db.executemany("INSERT INTO temp.current_run VALUES (?, ?, ?, ?)",
                           ((i, key, status, duration)
                            for i, (key, status, duration) in enumerate(scenarios)
                            if status in ran))
            rows = db.execute(HISTORIES, {"version": version, "window": window, "factor": factor,
                                          "ran1": ran[0], "ran2": ran[1], "ran3": ran[2]})
            return {row[0]: ScenarioHistory(
                row[0], row[1], row[2] or 0, row[3], row[4],
                tuple(float(d) for d in row[5].split(",")) if row[5] else (),
                row[6] or 0, row[7] or 0, None if row[8] is None else bool(row[8]))
                for row in rows}

    def tested_versions(self, key: str) -> set[str]:
        with self._write() as db:
            rows = db.execute("SELECT DISTINCT target_version FROM runs WHERE target_key = ? "
                              "AND state = 'finished' AND target_version IS NOT NULL", (key,))
            return {version for (version,) in rows if version}

    def state_of(self, run_id: str) -> str | None:
        with self._write() as db:
            row = db.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row[0] if row else None


def _script(db: sqlite3.Connection, script: str) -> None:
    """Statements one by one, inside the caller's transaction (executescript would commit)."""
    for statement in script.split(";"):
        lines = [line.split("--")[0] for line in statement.splitlines()]
        if "".join(lines).strip():
            db.execute("\n".join(lines))


# One row per scenario of this run where something may have changed. `ran` numbers each
# scenario's past outcomes where it ran, newest first (k), with running counts of passes
# and of outcomes on this version; the streak is the outcomes before the first pass.
HISTORIES = """
WITH ran AS (
    SELECT c.position, s.status, s.duration_s, p.run_id, p.started_at,
           coalesce(p.target_version = :version, 0) AS same_version,
           row_number() OVER w AS k,
           sum(s.status = 'passed') OVER w AS passes,
           sum(coalesce(p.target_version = :version, 0)) OVER w AS same_seen
    FROM temp.past_run p
    JOIN scenario_runs s ON s.run_id = p.run_id
    JOIN temp.current_run c ON c.scenario_key = s.scenario_key
    WHERE s.status IN (:ran1, :ran2, :ran3)
    WINDOW w AS (PARTITION BY c.position ORDER BY p.n ROWS UNBOUNDED PRECEDING)
),
flips AS (
    SELECT position, status = 'passed' AS passed, same_seen,
           lag(status = 'passed') OVER (PARTITION BY position ORDER BY k) AS before
    FROM ran WHERE same_version AND same_seen < :window
),
summary AS (
    SELECT position,
           max(CASE WHEN k = 1 THEN status END) AS last_status,
           sum(passes = 0) AS streak,
           group_concat(CASE WHEN status = 'passed' AND passes <= :window THEN duration_s END)
               AS usual,
           min(CASE WHEN status = 'passed' AND passes <= :window THEN duration_s END)
               AS fastest
    FROM ran GROUP BY position
),
flipped AS (
    SELECT position, count(*) AS runs, sum(coalesce(before != passed, 0)) AS flips,
           max(CASE WHEN same_seen = 1 THEN passed END) AS newest_passed
    FROM flips GROUP BY position
)
SELECT c.position, m.last_status, m.streak, since.run_id, since.started_at, m.usual,
       f.runs, f.flips, f.newest_passed
FROM temp.current_run c
JOIN summary m ON m.position = c.position
LEFT JOIN flipped f ON f.position = c.position
LEFT JOIN ran since ON since.position = c.position AND since.k = m.streak
WHERE c.status != 'passed' OR m.last_status != 'passed'
   OR coalesce(f.flips, 0) + coalesce(f.newest_passed = 0, 0) >= 2
   OR c.duration_s >= :factor * m.fastest
ORDER BY c.position
"""
