"""Root cause and next steps, from the probes and the remediation catalog."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..vocabulary import Classification, Finding
from .evidence import server_error
from .model import Diagnosis, HealthProbe, NextStep, ScenarioResult, SchemaProbe

CATALOG = Path(__file__).with_name("remediations.toml")
SCHEMA_FINDINGS = frozenset({Finding.SCHEMA_MISSING_TABLES, Finding.SCHEMA_BEHIND_HEAD})


class _Blank(dict[str, str]):
    """Leaves a placeholder that no probe filled as it is."""

    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"


def load_catalog(path: Path = CATALOG) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        entries: list[dict[str, Any]] = tomllib.load(handle)["remediation"]
    return entries


def findings(scenarios: Sequence[ScenarioResult], health: HealthProbe | None,
             schema: SchemaProbe | None) -> list[str]:
    """The catalog keys that this run matches, most specific first."""
    keys: list[str] = []
    if schema and schema.reachable and schema.missing_tables:
        keys.append(Finding.SCHEMA_MISSING_TABLES)
    elif schema and schema.reachable and schema.revisions_behind:
        keys.append(Finding.SCHEMA_BEHIND_HEAD)
    if health is not None and not health.up:
        keys.append(Finding.HEALTH_DOWN)
    # A schema finding explains server errors, a health finding explains an unreachable target.
    explained: set[Classification] = set()
    if keys and keys[0] in SCHEMA_FINDINGS and all(
            server_error(s) for s in scenarios
            if s.failed and s.classification == Classification.PRODUCT):
        explained.add(Classification.PRODUCT)
    if Finding.HEALTH_DOWN in keys:
        explained.add(Classification.ENVIRONMENT)
    for classification in (Classification.ENVIRONMENT, Classification.PRODUCT,
                           Classification.CONTRACT, Classification.TEST):
        if classification in explained:
            continue
        if any(s.failed and s.classification == classification for s in scenarios):
            keys.append(classification)
    return keys


def root_cause(scenarios: Sequence[ScenarioResult], health: HealthProbe | None,
               schema: SchemaProbe | None) -> str:
    failed = [s for s in scenarios if s.failed]
    if not failed:
        return "No failure: nothing to explain."
    if schema and schema.reachable and schema.missing_tables:
        tables = ", ".join(f"`{t}`" for t in schema.missing_tables)
        behind = (f", {schema.revisions_behind} revision(s) short of head"
                  if schema.revisions_behind else "")
        return (f"The database is missing table(s) {tables}: it is at migration "
                f"`{schema.current_revision or 'none'}`, head is `{schema.expected_revision}`"
                f"{behind}. Requests that read them fail with a server error while health stays "
                f"{'green' if health and health.up else 'as reported below'}.")
    if health is not None and not health.up:
        answer = f"answered {health.status}" if health.status else f"did not answer ({health.error})"
        return f"The backend is not healthy: its health check {answer}."
    first = failed[0]
    return (f"{first.classification.capitalize() or 'Failure'}: {first.key_finding} "
            f"(in \u201c{first.name}\u201d)"
            + (f", and {len(failed) - 1} other failure(s)" if len(failed) > 1 else "") + ".")


def diagnose(scenarios: Sequence[ScenarioResult], health: HealthProbe | None,
             schema: SchemaProbe | None, context: dict[str, str],
             catalog: list[dict[str, Any]] | None = None) -> Diagnosis:
    catalog = load_catalog() if catalog is None else catalog
    values = _Blank(context)
    if schema:
        values.update(tables=", ".join(f"`{t}`" for t in schema.missing_tables),
                      current=f"`{schema.current_revision or 'none'}`",
                      head=f"`{schema.expected_revision or 'unknown'}`",
                      behind=str(schema.revisions_behind or 0), database=schema.database)
    steps = []
    for key in findings(scenarios, health, schema):
        for entry in catalog:
            if entry["when"] == key:
                steps.append(NextStep(entry["title"].format_map(values),
                                      [a.format_map(values) for a in entry["actions"]],
                                      entry["because"].format_map(values)))
                break
    return Diagnosis(health, schema, root_cause(scenarios, health, schema), steps)
