"""`stagecheck serve`'s HTTP interface (Starlette): the gate on demand for release pipelines.

- `POST /runs` starts (or joins) a run → 202 and `Location: /runs/{id}`; `GET /runs/{id}`
  polls it (Spinnaker); `GET /runs/{id}/report.html|report.md|results.json|verdict.json`;
- `GET /verdict?tags=…&target=…` runs and waits, bounded, → 200 and the verdict (Argo's web
  metric provider);
- `POST /hooks/flagger` runs and waits → 200 on GO, 412 otherwise with the reason (Flagger);
- `GET /catalog` (also `/runs/catalog.html`, where a run report's links lead): the living
  catalog of the feature files, with this service's history;
- `GET /metrics` (Prometheus), `GET /health` (the only one without the token).

Every error is a status and one sentence (`{"error": …}`; text for Flagger, which shows it).
"""

from __future__ import annotations

import asyncio
import hmac
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behave.tag_expression import make_tag_expression
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Route

from ..catalog.build import build_catalog
from ..catalog.render import render_catalog
from ..client.nesting import NestedTooDeeply, load_json
from ..config.settings import Settings
from ..errors import ConfigError, HistoryError, ServiceRequestError
from ..outputs.metrics import NOT_JUDGED, GateMetrics
from ..report.view import money
from ..vocabulary import Decision, ReportFormat, RunStatus
from .runs import GateRun, RunQueue
from .targets import resolve_target

MAX_BODY = 64 * 1024
MAX_TAGS = 500
REPORTS = {"report.html": "text/html; charset=utf-8", "report.md": "text/markdown; charset=utf-8",
           "results.json": "application/json", "verdict.json": "application/json"}
ROLLBACK = "rollback"


@dataclass(frozen=True)
class ServiceConfig:
    settings: Settings
    define_args: list[str]  # the service's -D arguments, given to every run
    token: str
    folder: Path            # runs/<id>/ are written here
    environ: dict[str, str]


def _authorize(request: Request, token: str, offered: str = "") -> None:
    """The service token, as `Authorization: Bearer …` (or, for Flagger, which sends no
    headers of its own, `metadata.token`); ServiceRequestError 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        given = offered
    if not given:
        raise ServiceRequestError(401, "this endpoint needs the service token: send "
                                "Authorization: Bearer <STAGECHECK_SERVICE_TOKEN>")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ServiceRequestError(401, "the service token is wrong")


def _tags(value: object) -> tuple[str, ...]:
    """A behave tag expression (or a list of them, all to hold), checked before anything runs."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(t, str) and t.strip()
                                                           for t in items):
        raise ServiceRequestError(400, "give tags as a behave tag expression such as \"@p1\"")
    tags = tuple(t.strip() for t in items)
    if sum(map(len, tags)) > MAX_TAGS or any(not t.isprintable() for t in tags):
        raise ServiceRequestError(400, f"the tags must be printable and at most {MAX_TAGS} characters")
    for tag in tags:
        try:
            make_tag_expression(tag)
        except Exception as exc:  # noqa: BLE001 - behave's parser raises bare Exception and ValueError too
            raise ServiceRequestError(400, f"the tag expression {tag!r} cannot be read: "
                                      f"{exc or type(exc).__name__}") from None
    return tags


def _version(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 200 or not value.isprintable():
        raise ServiceRequestError(400, "version must be a short text such as \"1.4.2\"")
    return value.strip()


async def _bounded_body(request: Request) -> bytes:
    """The body, read no further than MAX_BODY: a larger one is refused as soon as it says so
    (Content-Length) or passes the limit, so no request can fill the service's memory."""
    too_large = ServiceRequestError(413, f"the body is larger than {MAX_BODY // 1024} KiB")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_large
    return bytes(body)


async def _json_object(request: Request) -> dict[str, Any]:
    body = await _bounded_body(request)
    try:
        data = load_json(body or b"null")
    except NestedTooDeeply as exc:
        raise ServiceRequestError(400, f"the body is {exc}: send an object like "
                                "{\"tags\": \"@p1\", \"target\": \"local\"}") from None
    except ValueError:
        raise ServiceRequestError(400, "the body is not JSON: send an object like "
                                "{\"tags\": \"@p1\", \"target\": \"local\"}") from None
    if not isinstance(data, dict):
        raise ServiceRequestError(400, "the body must be a JSON object like "
                                "{\"tags\": \"@p1\", \"target\": \"local\"}")
    return data


def _timeout(raw: str | None, settings: Settings) -> float:
    if raw is None:
        return settings.service_deadline
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ServiceRequestError(400, f"timeout must be a positive number of seconds, not {raw!r}")
    return min(value, settings.service_deadline)


def _error(exc: ServiceRequestError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)


@dataclass
class Service:
    """What the handlers share, on `app.state.service`: the configuration, the run queue and
    the metrics of every run it has finished."""

    config: ServiceConfig
    queue: RunQueue
    metrics: GateMetrics

    @property
    def settings(self) -> Settings:
        return self.config.settings

    def found(self, run_id: str) -> GateRun:
        run = self.queue.get(run_id)
        if run is None:
            raise ServiceRequestError(404, f"there is no run {run_id!r} on this service (finished runs "
                                    f"are kept for the last keep_runs={self.settings.keep_runs})")
        return run

    def submit(self, target: object, tags: object, version: object) -> tuple[GateRun, bool]:
        return self.queue.submit(resolve_target(target, self.settings), _tags(tags),
                                 _version(version))


def _service(request: Request, offered_token: str | None = None) -> Service:
    """The service, once the caller has shown the token (None: the token is not asked)."""
    service: Service = request.app.state.service
    if offered_token is not None:
        _authorize(request, service.config.token, offered_token)
    return service


def _view(request: Request, run: GateRun) -> dict[str, Any]:
    published = str(run.verdict.get("report_url") or "")
    own = str(request.url_for("report", run_id=run.id, name="report.html"))
    return run.to_json(published or own)


async def _finish(run: GateRun, timeout: float) -> GateRun:
    try:
        await asyncio.wait_for(run.done.wait(), timeout)
    except TimeoutError:
        raise ServiceRequestError(504, f"run {run.id} is still going after {timeout:g} s; it goes on, "
                                f"and GET /runs/{run.id} says when it is done") from None
    return run


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "runs": _service(request).queue.held})


async def start_run(request: Request) -> Response:
    service = _service(request, "")
    body = await _json_object(request)
    run, joined = service.submit(body.get("target"), body.get("tags"), body.get("version"))
    return JSONResponse({**_view(request, run), "joined": joined}, status_code=202,
                        headers={"Location": f"/runs/{run.id}"})


async def show_run(request: Request) -> Response:
    service = _service(request, "")
    return JSONResponse(_view(request, service.found(request.path_params["run_id"])))


async def report(request: Request) -> Response:
    service = _service(request, "")
    run, name = service.found(request.path_params["run_id"]), request.path_params["name"]
    if name not in REPORTS:
        raise ServiceRequestError(404, f"a run has {', '.join(REPORTS)}, not {name!r}")
    if run.status != RunStatus.FINISHED:
        raise ServiceRequestError(409, f"run {run.id} is still {run.status}: its report comes "
                                "when it is done")
    path = run.report_file(name)
    if path is None:
        raise ServiceRequestError(404, f"run {run.id} wrote no report: {run.problem}")
    return FileResponse(path, media_type=REPORTS[name])


async def verdict(request: Request) -> Response:
    service = _service(request, "")
    query = request.query_params
    tags = query.getlist("tags")
    run, _ = service.submit(query.get("target"), tags[0] if len(tags) == 1 else tags,
                            query.get("version"))
    await _finish(run, _timeout(query.get("timeout"), service.settings))
    body = _view(request, run)
    if run.result is None or run.other_build:
        why = run.other_build or run.problem
        return JSONResponse({"error": f"the gate could not judge: {why}", **body},
                            status_code=503)
    return JSONResponse(body)


async def flagger(request: Request) -> Response:
    """Flagger shows the text of an answer: errors are plain text here."""
    try:
        return await _flagger_hook(request)
    except ServiceRequestError as exc:
        return PlainTextResponse(str(exc), status_code=exc.status)


async def _flagger_hook(request: Request) -> Response:
    """Flagger sends {name, namespace, phase, metadata}; metadata (or the query) names the
    target and tags. 200 on GO; a `rollback` hook (metadata.hook=rollback) is 200 on NO-GO,
    since Flagger rolls back when that hook succeeds."""
    body = await _json_object(request)
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ServiceRequestError(400, "metadata must be an object of strings, as Flagger sends it")
    service = _service(request, str(meta.get("token") or ""))
    query = request.query_params
    run, _ = service.submit(meta.get("target") or query.get("target"),
                            meta.get("tags") or query.get("tags"),
                            meta.get("version") or query.get("version"))
    await _finish(run, _timeout(query.get("timeout"), service.settings))
    if run.result is None or run.other_build:
        return PlainTextResponse(f"could not judge: {run.other_build or run.problem}",
                                 status_code=412)
    decision = run.result.verdict.decision
    rollback = (meta.get("hook") or query.get("hook")) == ROLLBACK
    passed = decision == Decision.NO_GO if rollback else decision == Decision.GO
    line = (f"{decision}: {run.result.verdict.reason} · revenue at risk "
            f"{money(run.result.impact.revenue_at_risk)} · report {_view(request, run)['report_url']}")
    return PlainTextResponse(line, status_code=200 if passed else 412)


FEATURES = Path("features")  # the service runs behave in its working folder: these features


def _catalog_page(settings: Settings) -> str:
    try:
        catalog = build_catalog(FEATURES, Path(settings.history))
    except (ConfigError, HistoryError) as exc:
        raise ServiceRequestError(503, f"the catalog cannot be built: {exc}") from None
    return render_catalog(catalog, ReportFormat.HTML)


async def catalog(request: Request) -> Response:
    """The catalog, built on each request (a second or less) from the features and the history."""
    service = _service(request, "")
    return HTMLResponse(await asyncio.to_thread(_catalog_page, service.settings))


async def metrics_text(request: Request) -> Response:
    service = _service(request, "")
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def on_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceRequestError)
    return _error(exc)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Runs stop (each writes its report) when the service shuts down."""
    yield
    await app.state.service.queue.close()


routes = [
    Route("/health", health),
    Route("/runs", start_run, methods=["POST"]),
    Route("/catalog", catalog),
    Route("/runs/catalog.html", catalog),  # before /runs/{run_id}: where reports link to
    Route("/runs/{run_id}", show_run),
    Route("/runs/{run_id}/{name}", report, name="report"),
    Route("/verdict", verdict),
    Route("/hooks/flagger", flagger, methods=["POST"]),
    Route("/metrics", metrics_text),
]


def create_app(config: ServiceConfig) -> Starlette:
    """The service's application, its state on `app.state.service`."""
    metrics = GateMetrics()

    def finished(run: GateRun) -> None:
        if run.result is not None:
            metrics.observe(run.result)
        else:
            metrics.count_run(run.target, NOT_JUDGED)

    queue = RunQueue(config.settings, config.define_args, config.folder, config.environ, finished)
    app = Starlette(routes=routes, exception_handlers={ServiceRequestError: on_error}, lifespan=lifespan)
    app.state.service = Service(config, queue, metrics)
    return app
