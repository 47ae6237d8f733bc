"""Root-cause probes after a run: health asked again, and the database schema read."""

from __future__ import annotations

import json
import time

import httpx

from .. import contract
from ..run.exchanges import Redactor, excerpt
from .model import HealthProbe, SchemaProbe


def probe_health(backend_url: str, timeout: float, redact: Redactor,
                 verify: bool = True) -> HealthProbe:
    url = f"{backend_url}/health"
    started = time.perf_counter()
    try:
        # Certificates are loaded (a tenth of a second) only where there is TLS to verify.
        response = httpx.get(url, timeout=timeout, verify=verify and url.startswith("https:"))
    except httpx.HTTPError as exc:
        return HealthProbe(url, None, time.perf_counter() - started, "", False,
                           redact(str(exc) or type(exc).__name__))
    body = excerpt(redact(response.content[:4096].decode("utf-8", "replace")), 2000)
    try:
        status = response.json().get("status")
    except (ValueError, AttributeError):
        status = None
    return HealthProbe(url, response.status_code, round(time.perf_counter() - started, 4), body,
                       response.status_code == 200 and status in contract.UP_STATUSES)


def probed_version(probe: HealthProbe | None) -> str:
    """The version the health probe's answer reports; "" when none."""
    if probe is None or not probe.body:
        return ""
    try:
        return contract.reported_version(json.loads(probe.body))
    except ValueError:
        return ""


def probe_schema(database_url: str, expected_tables: tuple[str, ...],
                 revisions: tuple[str, ...]) -> SchemaProbe:
    """Tables the contract expects that are missing, and the Alembic revision against head.
    SQLAlchemy is imported here, after a failure, not at every start."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(database_url)
    shown = engine.url.render_as_string(hide_password=True)
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
