"""Root cause and next steps, from the probes and the remediation catalog."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..vocabulary import Classification, Finding
from ..wording import plural
from .evidence import database_reported_down, failing_database_routes, server_error
from .model import Diagnosis, HealthProbe, NextStep, ScenarioResult, SchemaProbe

CATALOG = Path(__file__).with_name("remediations.toml")
SERVER_SIDE_FINDINGS = frozenset({Finding.SCHEMA_MISSING_TABLES, Finding.SCHEMA_BEHIND_HEAD,
                                  Finding.DATABASE_DOWN, Finding.DATABASE_SESSIONS})


class _Blank(dict[str, str]):
    """Leaves a placeholder that no probe filled as it is."""

    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"


def load_catalog(path: Path = CATALOG) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        entries: list[dict[str, Any]] = tomllib.load(handle)["remediation"]
    return entries


def load_dialects(path: Path = CATALOG) -> dict[str, dict[str, str]]:
    """The catalog's per-dialect texts (`[dialect.sqlite]` ...), keyed by SQLAlchemy backend name."""
    with path.open("rb") as handle:
        dialects: dict[str, dict[str, str]] = tomllib.load(handle).get("dialect", {})
    return dialects


def dialect_of(database_url: str) -> str:
    """SQLAlchemy's backend name of a database URL (`postgresql`, `sqlite`); "" if unparsable."""
    try:
        return make_url(database_url).get_backend_name()
    except (ArgumentError, ValueError):
        return ""


def code(text: str) -> str:
    """A Markdown code span that no backtick in the text can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _schema_complete(schema: SchemaProbe | None) -> bool:
    """Nothing missing and nothing pending, as far as the schema probe saw (or was not run)."""
    return schema is None or (schema.reachable and not schema.missing_tables
                              and not schema.revisions_behind)


def findings(scenarios: Sequence[ScenarioResult], health: HealthProbe | None,
             schema: SchemaProbe | None) -> list[str]:
    """The catalog keys that this run matches, most specific first."""
    keys: list[str] = []
    if schema and schema.reachable and schema.missing_tables:
        keys.append(Finding.SCHEMA_MISSING_TABLES)
    elif schema and schema.reachable and schema.revisions_behind:
        keys.append(Finding.SCHEMA_BEHIND_HEAD)
    # Health that answered badly, or did not answer while the product failed, is the backend's;
    # health that could not be reached while nothing but the environment broke is the network's.
    if health is not None and not health.up and (any(s.failed for s in scenarios) or (
            health.status is not None and not 200 <= health.status < 300)):
        keys.append(Finding.HEALTH_DOWN)
    elif database_reported_down(scenarios):
        keys.append(Finding.DATABASE_DOWN)
    elif len(failing_database_routes(scenarios)) >= 2 and _schema_complete(schema):
        keys.append(Finding.DATABASE_SESSIONS)
    # A schema or database finding explains server errors, a health finding an unreachable target.
    explained: set[Classification] = set()
    if keys and keys[0] in SERVER_SIDE_FINDINGS and all(
            server_error(s) for s in scenarios
            if s.failed and s.classification == Classification.PRODUCT):
        explained.add(Classification.PRODUCT)
    if Finding.HEALTH_DOWN in keys:
        explained.add(Classification.ENVIRONMENT)
    broke = {s.classification for s in scenarios if s.broke}
    for classification in (Classification.ENVIRONMENT, Classification.CONFIGURATION,
                           Classification.PRODUCT, Classification.CONTRACT, Classification.TEST):
        if classification in broke and classification not in explained:
            keys.append(classification)
    return keys


def root_cause(scenarios: Sequence[ScenarioResult], health: HealthProbe | None,
               schema: SchemaProbe | None, keys: list[str] | None = None) -> str:
    """`keys`: the run's findings, when already known."""
    failed = sorted((s for s in scenarios if s.broke), key=lambda s: not s.failed)
    if not failed:
        return "No failure: nothing to explain."
    keys = findings(scenarios, health, schema) if keys is None else keys
    health_state = "green" if health and health.up else "as reported below"
    if schema and Finding.SCHEMA_MISSING_TABLES in keys:
        tables = ", ".join(f"`{t}`" for t in schema.missing_tables)
        behind = (f", {plural(schema.revisions_behind, 'revision')} short of head"
                  if schema.revisions_behind else "")
        noun = "table" if len(schema.missing_tables) == 1 else "tables"
        return (f"The database is missing {noun} {tables}: it is at migration "
                f"`{schema.current_revision or 'none'}`, head is `{schema.expected_revision}`"
                f"{behind}. Requests that read them fail with a server error while health stays "
                f"{health_state}.")
    if health is not None and Finding.HEALTH_DOWN in keys:
        answer = f"answered {health.status}" if health.status else f"did not answer ({health.error})"
        return f"The backend is not healthy: its health check {answer}."
    if Finding.DATABASE_DOWN in keys:
        return ("The backend reports its database unreachable: the detailed health answered 503, "
                "and requests that need the database fail.")
    if Finding.DATABASE_SESSIONS in keys:
        routes = failing_database_routes(scenarios)
        checked = ("the schema is complete (at migration "
                   f"`{schema.current_revision or 'none'}`)" if schema
                   else "the schema was not checked (-D database_url checks it)")
        return (f"Database sessions are failing: {len(routes)} database-backed routes answered "
                f"500 ({', '.join(routes)}) while health stays {health_state} and {checked}. "
                "The tables are there; the backend cannot open database sessions (its engine or "
                "connection pool configuration).")
    first = failed[0]
    if not first.failed:  # its key finding already says "not judged, the environment: …"
        return (f"{first.key_finding[:1].upper()}{first.key_finding[1:]} "
                f"(in \u201c{first.name}\u201d)"
                + (f", and {plural(len(failed) - 1, 'other')}" if len(failed) > 1 else "") + ".")
    return (f"{first.classification.capitalize() or 'Failure'}: {first.key_finding} "
            f"(in \u201c{first.name}\u201d)"
            + (f", and {plural(len(failed) - 1, 'other failure')}" if len(failed) > 1 else "") + ".")


def diagnose(scenarios: Sequence[ScenarioResult], health: HealthProbe | None,
             schema: SchemaProbe | None, context: dict[str, str],
             catalog: list[dict[str, Any]] | None = None,
             dialects: dict[str, dict[str, str]] | None = None) -> Diagnosis:
    catalog = load_catalog() if catalog is None else catalog
    dialects = load_dialects() if dialects is None else dialects
    values = _Blank(context)
    if schema:
        names = ", ".join("'{}'".format(t.replace("'", "''")) for t in schema.missing_tables)
        dialect = dialects.get(dialect_of(schema.database)) or dialects.get("other", {})
        values.update(tables=", ".join(f"`{t}`" for t in schema.missing_tables),
                      current=f"`{schema.current_revision or 'none'}`",
                      head=f"`{schema.expected_revision or 'unknown'}`",
                      behind=plural(schema.revisions_behind or 0, "revision"),
                      database=code(schema.database),
                      **{key: text.replace("{names}", names) for key, text in dialect.items()})
    values.setdefault("routes", ", ".join(f"`{r}`" for r in failing_database_routes(scenarios)))
    steps = []
    keys = findings(scenarios, health, schema)
    for key in keys:
        for entry in catalog:
            if entry["when"] == key:
                steps.append(NextStep(entry["title"].format_map(values),
                                      [a.format_map(values) for a in entry["actions"]],
                                      entry["because"].format_map(values)))
                break
    return Diagnosis(health, schema, root_cause(scenarios, health, schema, keys), steps)
