"""Run history in an embedded SQLite database (SQLAlchemy Core): each run's facts, figures and
per-scenario outcomes, so that a report can say what changed and the loop what it has tested.

A run is inserted as `running` when it starts and completed when its report is written; a
run that never completes (the process was killed) is marked `interrupted` by the next run.
SQLite's journal keeps the file whole whatever happens to a writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Connection

from ..errors import HistoryError
from ..report.model import RunResult
from ..vocabulary import RecordState, Status

SCHEMA_VERSION = 1
metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("run_id", String, primary_key=True),
    Column("target_key", String, nullable=False, index=True),
    Column("started_at", String, nullable=False),
    Column("finished_at", String),
    Column("state", String, nullable=False),            # running, finished, interrupted
    Column("verdict", String),
    Column("revenue_at_risk", Float),
    Column("revenue_unverified", Float),
    Column("scenarios", Integer),
    Column("passed", Integer),
    Column("failed", Integer),
    Column("unverified", Integer),
    Column("target_version", String),
    Column("tag_expression", String),
)

scenario_runs = Table(
    "scenario_runs", metadata,
    Column("run_id", String, ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("scenario_key", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("status", String, nullable=False),
    Column("duration_s", Float, nullable=False),
)

# What a scenario measured besides its duration (a load run's percentiles), so that a markedly
# slower p95 is noticed as a slower duration is.
scenario_measures = Table(
    "scenario_measures", metadata,
    Column("run_id", String, ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("scenario_key", String, primary_key=True),
    Column("measure", String, primary_key=True),
    Column("value", Float, nullable=False),
)


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


class History:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        self._engine: Engine = create_engine(f"sqlite:///{self.path}",
                                             connect_args={"timeout": 30})
        event.listen(self._engine, "connect", _pragmas)
        with self._begin() as conn:
            metadata.create_all(conn)
            version = conn.exec_driver_sql("PRAGMA user_version").scalar()
            if version == 0:
                conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise HistoryError(f"{self.path} has history schema {version}; this stagecheck "
                                   f"writes schema {SCHEMA_VERSION}")

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        from sqlalchemy.exc import SQLAlchemyError
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise HistoryError(f"history database {self.path}: {reason}") from None

    def close(self) -> None:
        self._engine.dispose()

    def start(self, run_id: str, key: str, started_at: str, tag_expression: str) -> None:
        """Record a run as running; runs left running by a process that died are interrupted."""
        with self._begin() as conn:
            conn.execute(update(runs).where(runs.c.state == RecordState.RUNNING)
                         .values(state=RecordState.INTERRUPTED))
            conn.execute(runs.insert().values(run_id=run_id, target_key=key,
                                              started_at=started_at, state=RecordState.RUNNING,
                                              tag_expression=tag_expression))

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
        with self._begin() as conn:
            done = conn.execute(update(runs).where(runs.c.run_id == facts.run_id).values(**values))
            if done.rowcount == 0:
                conn.execute(runs.insert().values(run_id=facts.run_id, **values))
            conn.execute(scenario_runs.delete().where(scenario_runs.c.run_id == facts.run_id))
            rows = [{"run_id": facts.run_id, "scenario_key": scenario_key(s.feature, s.name),
                         "name": s.name, "status": s.status, "duration_s": s.duration_s}
                    for s in result.scenarios]
            if rows:
                conn.execute(scenario_runs.insert(), rows)
            conn.execute(scenario_measures.delete()
                         .where(scenario_measures.c.run_id == facts.run_id))
            measured = [{"run_id": facts.run_id, "scenario_key": scenario_key(s.feature, s.name),
                         "measure": name, "value": value}
                        for s in result.scenarios for name, value in s.measures.items()]
            if measured:
                conn.execute(scenario_measures.insert(), measured)

    def past_runs(self, key: str, before: str, limit: int = 30) -> list[PastRun]:
        """Completed runs on this target that started before `before`, newest first."""
        query = (select(runs).where(runs.c.target_key == key, runs.c.state != RecordState.RUNNING,
                                    runs.c.started_at <= before)
                 .order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit))
        with self._begin() as conn:
            return [PastRun(r.run_id, r.started_at, r.state, r.verdict, r.revenue_at_risk,
                            r.scenarios, r.passed, r.target_version) for r in conn.execute(query)]

    def outcomes(self, run_ids: list[str]) -> dict[str, dict[str, PastOutcome]]:
        """scenario key -> run id -> outcome, for these runs."""
        if not run_ids:
            return {}
        query = (select(scenario_runs, runs.c.target_version)
                 .join(runs, runs.c.run_id == scenario_runs.c.run_id)
                 .where(scenario_runs.c.run_id.in_(run_ids)))
        found: dict[str, dict[str, PastOutcome]] = {}
        with self._begin() as conn:
            for row in conn.execute(query):
                found.setdefault(row.scenario_key, {})[row.run_id] = PastOutcome(
                    row.run_id, row.status, row.duration_s, row.target_version)
        return found

    def measures(self, run_ids: list[str]) -> dict[tuple[str, str], dict[str, float]]:
        """(scenario key, measure) -> run id -> value, for these runs."""
        if not run_ids:
            return {}
        found: dict[tuple[str, str], dict[str, float]] = {}
        with self._begin() as conn:
            for row in conn.execute(select(scenario_measures)
                                    .where(scenario_measures.c.run_id.in_(run_ids))):
                found.setdefault((row.scenario_key, row.measure), {})[row.run_id] = row.value
        return found

    def tested_versions(self, key: str) -> set[str]:
        query = select(runs.c.target_version).where(
            runs.c.target_key == key, runs.c.state == RecordState.FINISHED,
            runs.c.target_version.is_not(None)).distinct()
        with self._begin() as conn:
            return {v for (v,) in conn.execute(query) if v}

    def prune(self, keep: int) -> int:
        """Delete all but the newest `keep` runs (their scenario rows go with them); how many
        were deleted. keep=0 keeps everything."""
        if keep <= 0:
            return 0
        newest = (select(runs.c.run_id).order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
                  .limit(keep).scalar_subquery())
        with self._begin() as conn:
            old = [r for (r,) in conn.execute(select(runs.c.run_id)
                                              .where(runs.c.run_id.not_in(newest)))]
            if old:
                conn.execute(scenario_runs.delete().where(scenario_runs.c.run_id.in_(old)))
                conn.execute(scenario_measures.delete()
                             .where(scenario_measures.c.run_id.in_(old)))
                conn.execute(runs.delete().where(runs.c.run_id.in_(old)))
        return len(old)

    def state_of(self, run_id: str) -> str | None:
        with self._begin() as conn:
            return conn.execute(select(runs.c.state).where(runs.c.run_id == run_id)).scalar()


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=FULL")
    dbapi_connection.execute("PRAGMA foreign_keys=ON")
