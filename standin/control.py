"""`/_standin/state`: read the variant, read or change the faults and reported version, for a
stand-in started from the command line (from Python, use the `Standin` handle instead).
Guarded by the bypass key, like the E2E sign-in."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from .auth import error, read_json_object
from .errors import IncompatibleFaultError, UnknownFaultError

if TYPE_CHECKING:
    from .state import StandinState


def _state_json(state: StandinState) -> dict[str, Any]:
    return {"faults": sorted(state.faults.active), "version": state.version,
            "variant": state.variant.name}


def _seconds(value: object, most: float) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 <= value <= most)


async def control(request: Request) -> JSONResponse:
    state = request.app.state.standin
    given = request.headers.get("x-e2e-bypass-key", "")
    if not hmac.compare_digest(given.encode(), state.bypass_key.encode()):
        return error(401, "the stand-in's bypass key is required")
    if request.method == "GET":
        return JSONResponse(_state_json(state))
    try:
        body = await read_json_object(request)
    except ValueError as exc:
        return error(422, str(exc))
    faults, version = body.get("faults"), body.get("version")
    if faults is not None and not (isinstance(faults, list)
                                   and all(isinstance(f, str) for f in faults)):
        return error(422, "faults must be a list of fault names")
    if version is not None and (not isinstance(version, str) or not version.strip()):
        return error(422, "version must be a non-empty string")
    latency, agent_run = body.get("latency_s"), body.get("agent_run_s")
    for name, value, most in (("latency_s", latency, 10), ("agent_run_s", agent_run, 60)):
        if value is not None and not _seconds(value, most):
            return error(422, f"{name} must be a number of seconds from 0 to {most}")
    if faults is not None:
        try:
            await run_in_threadpool(state.set_faults, faults)
        except (UnknownFaultError, IncompatibleFaultError) as exc:
            return error(422, str(exc))
    if version is not None:
        state.version = version
    if latency is not None:
        state.latency_s = float(latency)
    if agent_run is not None:
        state.agent_run_s = float(agent_run)
    return JSONResponse(_state_json(state))
