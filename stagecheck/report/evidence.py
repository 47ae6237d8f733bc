"""What a failed scenario shows: why it failed, and the exchange that proves it (pure
functions of the result model, shared by the build, the diagnosis and the views)."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import httpx

from ..client.exchanges import OWN_CLOSE
from ..client.nesting import load_json
from ..platform import contract
from ..vocabulary import Channel, Classification, Status
from .model import HealthProbe, ScenarioResult


def classify(scenario: ScenarioResult, target_failure: bool) -> Classification:
    """Why a failed scenario failed: from whether the network failed (a TargetError), and
    otherwise from how it failed and the last answer it saw."""
    if target_failure:
        return Classification.ENVIRONMENT
    if scenario.status == Status.ERROR:
        return Classification.TEST
    statuses = [e["status"] for e in scenario.exchanges
                if e["channel"] == Channel.HTTP and e["status"] is not None]
    last = statuses[-1] if statuses else None
    if last is not None and 400 <= last < 500:
        return Classification.CONTRACT
    return Classification.PRODUCT


def failing_exchange(scenario: ScenarioResult) -> dict[str, Any] | None:
    """The evidence: the last exchange with an error status or a network error, else the last
    one the target had a part in (our own close of a session proves nothing)."""
    for exchange in reversed(scenario.exchanges):
        if exchange["error"] or (exchange["channel"] == Channel.HTTP
                                 and (exchange["status"] or 0) >= 400):
            return exchange
    theirs = [e for e in scenario.exchanges if e["action"] != OWN_CLOSE]
    return theirs[-1] if theirs else None


def server_error(scenario: ScenarioResult) -> bool:
    """Whether the failure's evidence is a 5xx answer from the target."""
    exchange = failing_exchange(scenario)
    return bool(exchange and exchange["channel"] == Channel.HTTP
                and (exchange["status"] or 0) >= 500)


def describe_exchange(exchange: dict[str, Any]) -> str:
    """`500 Internal Server Error on GET /api/mcp/servers`, or the network error."""
    path = path_of(exchange)
    if exchange["error"]:
        return f"{exchange['error']} on {exchange['action']} {path}"
    status = exchange["status"]
    try:
        phrase = f" {HTTPStatus(status).phrase}" if exchange["channel"] == Channel.HTTP and status else ""
    except ValueError:
        phrase = ""
    return f"{status}{phrase} on {exchange['action']} {path}"


def path_of(exchange: dict[str, Any]) -> str:
    return httpx.URL(exchange["url"]).raw_path.decode("ascii", "replace").split("?")[0]


def failing_database_routes(scenarios: Sequence[ScenarioResult]) -> list[str]:
    """`GET /api/mcp/servers`, …: the database-backed routes that answered 5xx in this run."""
    found = {f"{e['action']} {_route(path_of(e))}" for s in scenarios for e in s.exchanges
             if e["channel"] == Channel.HTTP and (e["status"] or 0) >= 500
             and path_of(e).startswith(contract.DATABASE_ROUTES)}
    return sorted(found)


def database_reported_down(scenarios: Sequence[ScenarioResult]) -> bool:
    """Whether the detailed health answered 503 in this run: the backend says its database is
    unreachable, which is not the same as failing sessions."""
    return any(e["channel"] == Channel.HTTP and e["status"] == 503
               and path_of(e) == contract.DETAILED_HEALTH for s in scenarios for e in s.exchanges)


def _route(path: str) -> str:
    """The route of a path, ids left out: /api/threads/<id>/messages."""
    parts = path.split("/")
    return "/".join("{id}" if len(part) >= 16 and any(c.isdigit() for c in part) else part
                    for part in parts)


def probed_version(probe: HealthProbe | None) -> str:
    """The version the health probe's answer reports; "" when none."""
    if probe is None or not probe.body:
        return ""
    try:
        return contract.reported_version(load_json(probe.body))
    except ValueError:  # not JSON (an excerpt may be cut), or nested too deep
        return ""
