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
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import HistoryError
from ..report.model import RunResult, scenario_key
from ..vocabulary import FAILED, RAN, UNVERIFIED, Decision, RecordState, Status
from .fold import (
    FOLDED,
    MAX_PAST,
    USUAL_MEASURES,
    PastRun,
    ScenarioHistory,
    past_runs_table,
    same_version,
    scenario_history,
    usual_durations,
)
from .schema import BUSY_TIMEOUT_S, HISTORY_SCHEMA_VERSION, INDICES, SCHEMA, UPGRADES, run_script

# Runs a report compares against: those that wrote their results (finished, or stopped by
# Ctrl-C), never one still running or killed mid-way.
COMPLETED = "finished_at IS NOT NULL AND state != 'running'"


@dataclass(frozen=True)
class PastOutcome:
    run_id: str
    status: str
    duration_s: float
    target_version: str | None


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
                run_script(db, SCHEMA + UPGRADES[1])
            elif version in (1, 2, 3):
                run_script(db, "".join(UPGRADES[version - 1:]))
            elif version != HISTORY_SCHEMA_VERSION:
                raise HistoryError(f"{self.path} has history schema {version}; this stagecheck "
                                   f"writes schema {HISTORY_SCHEMA_VERSION}")
            run_script(db, INDICES)
            db.execute(f"PRAGMA user_version = {HISTORY_SCHEMA_VERSION}")

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

    def abandon(self, run_id: str) -> None:
        """A run that ends without a result (it could not be judged): marked interrupted, never
        left running. Without a finishing time, no report ever compares against it."""
        with self._write(immediate=True) as db:
            db.execute("UPDATE runs SET state = ? WHERE run_id = ? AND state = 'running'",
                       (str(RecordState.INTERRUPTED), run_id))

    def not_judged(self, run_id: str) -> None:
        """A run whose verdict was withdrawn afterwards (`stagecheck serve`: stopped at its
        deadline, or about another build): recorded as not judged, never as the verdict it
        had, so that nothing treats its version as tested."""
        with self._write(immediate=True) as db:
            db.execute("UPDATE runs SET verdict = ?, state = CASE state WHEN 'running' THEN ? "
                       "ELSE state END WHERE run_id = ?",
                       (str(Decision.NOT_JUDGED), str(RecordState.INTERRUPTED), run_id))

    def not_judged_process(self, pid: int, started: str) -> int:
        """The run a gate process killed before it said anything left running (`stagecheck
        serve` past its grace period): not judged, as the service says; how many rows."""
        with self._write(immediate=True) as db:
            return int(db.execute("UPDATE runs SET verdict = ?, state = ? WHERE state = 'running' "
                                  "AND host = ? AND pid = ? AND process_start = ?",
                                  (str(Decision.NOT_JUDGED), str(RecordState.INTERRUPTED),
                                   socket.gethostname(), pid, started)).rowcount)

    def finish(self, result: RunResult, key: str) -> None:
        facts = result.facts
        statuses = Counter(s.status for s in result.scenarios)
        values = {
            "target_key": key, "started_at": facts.started_at, "finished_at": facts.finished_at,
            "state": RecordState.INTERRUPTED if facts.interrupted else RecordState.FINISHED,
            "verdict": result.verdict.decision, "revenue_at_risk": result.impact.revenue_at_risk,
            "revenue_unverified": result.impact.revenue_unverified,
            "scenarios": len(result.scenarios),
            "passed": statuses[Status.PASSED],
            "failed": sum(statuses[status] for status in FAILED),
            "unverified": sum(statuses[status] for status in UNVERIFIED),
            "target_version": facts.target_version, "tag_expression": facts.tag_expression,
            "expected_version": facts.expected_version or None}
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
            db.execute("DELETE FROM scenario_measures WHERE run_id = ?", (facts.run_id,))
            db.executemany("INSERT OR REPLACE INTO scenario_measures VALUES (?, ?, ?, ?)",
                           [(facts.run_id, scenario_key(s.feature, s.name), name, value)
                            for s in result.scenarios for name, value in s.measures.items()])

    def past_runs(self, key: str, before: str, limit: int = 30,
                  exclude: str = "") -> list[PastRun]:
        """Completed runs on this target that started before `before` (and, within the same
        second, were recorded before the run `exclude`), newest first."""
        with self._write() as db:
            rows = db.execute(
                "SELECT run_id, started_at, state, verdict, revenue_at_risk, scenarios, passed, "
                "target_version, expected_version FROM runs WHERE target_key = ? AND started_at <= ? AND "
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

    def statuses(self, run_id: str) -> dict[str, str]:
        """scenario key -> status, in this run."""
        with self._write() as db:
            return dict(db.execute("SELECT scenario_key, status FROM scenario_runs "
                                   "WHERE run_id = ?", (run_id,)).fetchall())

    def histories(self, past: list[PastRun], scenarios: list[tuple[str, str, float]],
                  version: str, window: int, factor: float, margin: float = 0.0
                  ) -> dict[int, ScenarioHistory]:
        """For this run's scenarios (key, status, duration) that ran, their history over the
        `past` runs (newest first, at most 62), keyed by the scenario's place in the run; but
        for those that passed now and every time before, and cannot be markedly slower (at
        least `factor` times and `margin` seconds above their fastest passing time).

        One aggregate query reads each past run's outcomes by primary key and folds them, per
        scenario, into bit masks (bit n: the n-th newest past run): where it ran, where it
        passed, where the run was on this version; and its fastest passing time. One more reads
        the durations of the few that may be markedly slower."""
        if not past or not scenarios:
            return {}
        if len(past) > MAX_PAST:
            raise ValueError(f"at most {MAX_PAST} past runs are compared at once")
        with self._write() as db:
            past_runs_table(db, past)
            ran_statuses = sorted(map(str, RAN))
            query = FOLDED.format(statuses=", ".join("?" * len(ran_statuses)))
            folded = {key: rest for key, *rest in db.execute(query, ran_statuses)}
            on_version = same_version(past, version)
            changed: list[tuple[int, str, bool, int, int, int]] = []
            for position, (key, status, duration) in enumerate(scenarios):
                if status not in RAN or key not in folded:
                    continue
                ran, passed, fastest = folded[key]
                same = ran & on_version
                slower = (status == Status.PASSED and fastest is not None
                          and duration >= factor * fastest and duration - fastest >= margin)
                if status == Status.PASSED and not ran & ~passed and not slower:
                    continue  # passed now and every time before: nothing changed
                changed.append((position, key, slower, ran, passed, same))
            slow = [key for _, key, slower, *_ in changed if slower]
            usual = usual_durations(db, slow, window) if slow else {}
        return {position: scenario_history(position, past, ran, passed, same,
                                           usual.get(key, ()) if slower else (), window)
                for position, key, slower, ran, passed, same in changed}

    def usual_measures(self, past: list[PastRun], measured: list[tuple[str, str]], window: int
                       ) -> dict[tuple[str, str], tuple[float, ...]]:
        """For this run's measures (scenario key, measure name), their values in the newest
        `window` past runs (newest first, at most 62) where the scenario passed and measured
        them: one query, and none for a run that measured nothing."""
        keys = sorted({key for key, _ in measured})
        if not past or not keys:
            return {}
        if len(past) > MAX_PAST:
            raise ValueError(f"at most {MAX_PAST} past runs are compared at once")
        wanted = set(measured)
        found: dict[tuple[str, str], list[float]] = {}
        with self._write() as db:
            past_runs_table(db, past)
            for key, name, value in db.execute(
                    USUAL_MEASURES.format(marks=", ".join("?" * len(keys))),
                    (str(Status.PASSED), *keys, window)):
                if (key, name) in wanted:
                    found.setdefault((key, name), []).append(value)
        return {measure: tuple(values) for measure, values in found.items()}

    def targets(self) -> list[str]:
        """The targets of completed runs, the most recently run first."""
        with self._write() as db:
            rows = db.execute(f"SELECT target_key FROM runs WHERE {COMPLETED} GROUP BY target_key "
                              "ORDER BY max(started_at) DESC").fetchall()
        return [key for (key,) in rows]

    def tested_versions(self, key: str) -> set[str]:
        with self._write() as db:
            rows = db.execute("SELECT DISTINCT target_version FROM runs WHERE target_key = ? "
                              "AND state = 'finished' AND target_version IS NOT NULL AND "
                              "coalesce(verdict, '') != ?", (key, str(Decision.NOT_JUDGED)))
            return {version for (version,) in rows if version}

    def prune(self, keep: int) -> int:
        """Delete all but the newest `keep` runs (their scenario rows go with them: ON DELETE
        CASCADE); how many were deleted. keep=0 keeps everything."""
        if keep <= 0:
            return 0
        with self._write() as db:
            deleted = db.execute(
                "DELETE FROM runs WHERE run_id NOT IN (SELECT run_id FROM runs "
                "ORDER BY started_at DESC, rowid DESC LIMIT ?)", (keep,)).rowcount
        return int(deleted)

    def state_of(self, run_id: str) -> str | None:
        with self._write() as db:
            row = db.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row[0] if row else None
