"""Root-cause probes after a run: health again, the database schema, and what each failure is."""

from __future__ import annotations

import json
import time
from http import HTTPStatus

import httpx
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from . import contract
from .exchanges import Redactor, excerpt
from .results import HealthProbe, ScenarioResult, SchemaProbe

ENVIRONMENT = "environment"
PRODUCT = "product defect"
TEST = "test defect"
CONTRACT = "contract mismatch"


def classify(scenario: ScenarioResult, target_failure: bool) -> str:
    """Why a failed scenario failed: from whether the network failed (a TargetError), and
    otherwise from how it failed and the last answer it saw."""
    if target_failure:
        return ENVIRONMENT
    if scenario.status == "error":
        return TEST
    statuses = [e["status"] for e in scenario.exchanges
                if e["channel"] == "http" and e["status"] is not None]
    last = statuses[-1] if statuses else None
    if last is not None and 400 <= last < 500:
        return CONTRACT
    return PRODUCT


def failing_exchange(scenario: ScenarioResult) -> dict | None:
    """The evidence: the last exchange with an error status or a network error, else the last."""
    for exchange in reversed(scenario.exchanges):
        if exchange["error"] or (exchange["channel"] == "http" and (exchange["status"] or 0) >= 400):
            return exchange
    return scenario.exchanges[-1] if scenario.exchanges else None


def describe_exchange(exchange: dict) -> str:
    """`500 Internal Server Error on GET /api/mcp/servers`, or the network error."""
    path = httpx.URL(exchange["url"]).raw_path.decode("ascii", "replace").split("?")[0]
    if exchange["error"]:
        return f"{exchange['error']} on {exchange['action']} {path}"
    status = exchange["status"]
    try:
        phrase = f" {HTTPStatus(status).phrase}" if exchange["channel"] == "http" and status else ""
    except ValueError:
        phrase = ""
    return f"{status}{phrase} on {exchange['action']} {path}"


def probe_health(backend_url: str, timeout: float, redact: Redactor,
                 verify: bool = True) -> HealthProbe:
    url = f"{backend_url}/health"
    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=timeout, verify=verify)
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


def health_version(probe: HealthProbe | None) -> str:
    if probe is None or not probe.body:
        return ""
    try:
        return contract.reported_version(json.loads(probe.body))
    except ValueError:
        return ""


def probe_schema(database_url: str, expected_tables: tuple[str, ...],
                 revisions: tuple[str, ...]) -> SchemaProbe:
    """Tables the contract expects that are missing, and the Alembic revision against head."""
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
