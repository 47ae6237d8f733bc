"""Root-cause probes after a run: health asked again, and the database schema read."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from ..client.bounded import get_bounded
from ..client.nesting import load_json
from ..client.redact import Redactor, excerpt, redact_url
from ..config.timeouts import HEALTH_AFTER_INTERRUPT_S, SCHEMA_PROBE_CONNECT_S, VERSION_AT_START_S
from ..errors import TargetError
from ..platform import contract
from ..report.evidence import probed_version
from ..report.model import HealthProbe, ScenarioResult, SchemaProbe
from ..run.world import RunState

if TYPE_CHECKING:
    from sqlalchemy import Engine


def probe_health(backend_url: str, timeout: float, redact: Redactor,
                 verify: bool = True) -> HealthProbe:
    url = f"{backend_url}/health"
    started = time.perf_counter()
    try:
        response = get_bounded(url, timeout, verify and url.startswith("https:"),  # no CA
                               shown=redact(url))  # certificates to load without TLS
    except (httpx.HTTPError, TargetError) as exc:
        return HealthProbe(redact(url), None, time.perf_counter() - started, "", False,
                           redact(str(exc) or type(exc).__name__))
    body = excerpt(redact(response.content[:4096].decode("utf-8", "replace")), 2000)
    try:
        status = contract.reported_status(load_json(response.content))
    except ValueError:  # not JSON, or nested deeper than any answer of the contract: not up
        status = None
    return HealthProbe(redact(url), response.status_code, round(time.perf_counter() - started, 4), body,
                       response.status_code == 200 and contract.is_up(status))


def read_only_engine(database_url: str, timeout: float = SCHEMA_PROBE_CONNECT_S) -> Engine:
    """An engine that only reads: a SQLite file is opened read-only (never created), other
    databases in read-only transactions, each connection attempt bounded in time. SQLAlchemy
    is imported here, after a failure, not at every start."""
    from sqlalchemy import create_engine, make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database or "").resolve()
        return create_engine(url, creator=lambda: sqlite3.connect(
            f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout))
    if url.get_backend_name() == "postgresql":
        return create_engine(url, connect_args={"connect_timeout": max(1, int(timeout))},
                             execution_options={"postgresql_readonly": True})
    return create_engine(url)


def probe_schema(database_url: str, expected_tables: tuple[str, ...],
                 revisions: tuple[str, ...]) -> SchemaProbe:
    """Tables the contract expects that are missing, and the Alembic revision against head."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = read_only_engine(database_url)
    shown = redact_url(engine.url.render_as_string(hide_password=True))
    head = revisions[-1] if revisions else ""
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            current = ""
            if "alembic_version" in tables:
                current = connection.execute(text("SELECT version_num FROM alembic_version")
                                             ).scalar() or ""
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return SchemaProbe(shown, False, [], "", head, None, reason[:300])
    finally:
        engine.dispose()
    behind = None
    if current in revisions and head:
        behind = len(revisions) - 1 - revisions.index(current)
    return SchemaProbe(shown, True, [t for t in expected_tables if t not in tables], current,
                       head, behind)


def probe_version(run: RunState, timeout: float = VERSION_AT_START_S) -> str:
    """The build the target names now ("" when it names none or does not answer within
    `timeout`, or health_timeout if shorter): read when a run begins, so that a run that saw
    two builds is no verdict about either. The stand-in the run started is not asked: its
    build is known."""
    if run.target.started_version:
        return run.target.started_version
    redact = Redactor(run.settings.secrets + run.target.secrets)
    probe = probe_health(run.target.backend_url, min(run.settings.health_timeout, timeout),
                         redact, verify=not run.settings.insecure_tls)
    return probed_version(probe)


def probe_target(run: RunState, scenarios: list[ScenarioResult], interrupted: bool, *,
                 after_interrupt_s: float = HEALTH_AFTER_INTERRUPT_S
                 ) -> tuple[HealthProbe, SchemaProbe | None]:
    """At the end of a run, for the root cause: health asked again (briefly after Ctrl-C: the
    user is waiting), and the schema read when a scenario failed and the database is known."""
    redact = Redactor(run.settings.secrets + run.target.secrets)
    health = probe_health(run.target.backend_url,
                          min(run.settings.health_timeout, after_interrupt_s) if interrupted
                          else run.settings.health_timeout, redact,
                          verify=not run.settings.insecure_tls)
    schema = None
    if run.target.database_url and any(s.failed for s in scenarios):
        schema = probe_schema(run.target.database_url, contract.EXPECTED_TABLES,
                              run.target.migration_revisions)
    return health, schema
