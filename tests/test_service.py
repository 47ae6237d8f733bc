"""`stagecheck serve` driven over real loopback HTTP against the embedded stand-in: the Argo
web-metric verdict, the Flagger hook, Spinnaker's start-then-poll, joined requests, the
bounded queue, the token, the allow-list, bad input, and /metrics parsed with
prometheus-client's own parser."""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.behave_run import FAST, ROOT

TOKEN = "service-token-0123456789-abcdef"
BYPASS = "bypass-key-never-shown-4242"
STARTUP_S = 60.0
FAST_DEFINES = FAST[1::2]  # the values of behave's -D pairs


@dataclass
class Service:
    process: subprocess.Popen
    url: str
    folder: Path

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, trust_env=False)


def start_service(tmp: Path, *defines: str) -> Service:
    """`python -m stagecheck serve --port 0` as a process of its own; its first line says where
    it listens (read with a bound)."""
    env = {**os.environ, "STAGECHECK_SERVICE_TOKEN": TOKEN, "E2E_OAUTH_SIMULATION_KEY": BYPASS,
           "PYTHONPATH": str(ROOT)}
    args = [arg for pair in (*FAST_DEFINES, f"report_dir={tmp / 'reports'}", *defines)
            for arg in ("-D", pair)]
    process = subprocess.Popen([sys.executable, "-m", "stagecheck", "serve", "--port", "0", *args],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
                               stderr=open(tmp / "service.log", "w"))  # noqa: SIM115 - lives with the process
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],  # type: ignore[union-attr]
                     daemon=True).start()
    try:
        first = lines.get(timeout=STARTUP_S)
    except queue.Empty:
        process.kill()
        raise AssertionError("the service did not say where it listens") from None
    assert first.startswith("stagecheck serve: listening on http://127.0.0.1:"), first
    url = first.split("listening on ")[1].split(" ")[0]
    return Service(process, url, tmp / "reports" / "service")


def stop_service(service: Service) -> None:
    service.process.terminate()
    try:
        service.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = start_service(tmp_path_factory.mktemp("service"))
    yield running
    stop_service(running)


def no_secret(text: str) -> None:
    assert TOKEN not in text and BYPASS not in text


def poll_until_finished(client: httpx.Client, location: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(location).json()
        if body["status"] == "finished":
            return body
        time.sleep(0.2)
    raise AssertionError(f"{location} did not finish in {timeout} s")


def test_argo_verdict_is_go_on_the_clean_standin(service: Service) -> None:
    with service.client() as client:
        answer = client.get("/verdict", params={"tags": "@p1", "target": "local"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "finished" and body["decision"] == "GO"
    assert body["revenue_at_risk"] == 0 and body["counts"]["passed"] == 15
    assert body["report_url"] == f"{service.url}/runs/{body['id']}/report.html"
    no_secret(answer.text)
    _report_links_lead_to_the_catalog(service, body["report_url"])


def _report_links_lead_to_the_catalog(service: Service, report_url: str) -> None:
    """Each scenario of the run report links to its entry in the catalog, which the service
    serves behind the token (at /catalog, and where the report's relative links lead), with the
    statuses of the service's own history."""
    with service.client() as client:
        page = client.get(report_url).text
        links = re.findall(r'<a href="(\.\./catalog\.html#[^"]+)"', page)
        assert len(links) == 15
        target = httpx.URL(report_url).join(links[0])
        catalog = client.get(target)
        assert catalog.status_code == 200 and catalog.headers["content-type"].startswith("text/html")
        assert client.get("/catalog").text.count('<article class="scenario"') == 44
    for link in links:
        anchor = link.split("#", 1)[1]
        found = re.search(rf'<article class="scenario" id="{anchor}"[^>]* data-status="([^"]+)"',
                          catalog.text)
        assert found and found.group(1) == "passed", anchor
    no_secret(catalog.text)


def test_argo_verdict_is_no_go_with_the_measured_reason_under_a_fault(service: Service) -> None:
    with service.client() as client:
        answer = client.get("/verdict", params={"tags": "@p1",
                                                "target": "local+missing-mcp-tables"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"] == "NO-GO" and body["revenue_at_risk"] == 120_000
    assert "A user discovers the available agent servers" in body["reason"]
    assert body["critical_finding"].startswith("500 Internal Server Error on GET /api/mcp/servers")
    no_secret(answer.text)


def test_flagger_hook_is_200_on_go_and_412_with_the_reason_under_a_fault(service: Service) -> None:
    def hook(target: str, **extra: str) -> httpx.Response:
        payload = {"name": "platform", "namespace": "prod", "phase": "Progressing",
                   "metadata": {"target": target, "tags": "@p1", "token": TOKEN, **extra}}
        with service.client(token=None) as client:  # Flagger sends no headers of its own
            return client.post("/hooks/flagger", json=payload)

    clean = hook("local")
    assert clean.status_code == 200 and clean.text.startswith("GO: all 15 selected scenarios")
    faulty = hook("local+health-down")
    assert faulty.status_code == 412
    assert faulty.text.startswith("NO-GO: 1 critical scenario failed") and "$120K" in faulty.text
    # A rollback hook succeeds when the release must be rolled back.
    assert hook("local+health-down", hook="rollback").status_code == 200
    for answer in (clean, faulty):
        no_secret(answer.text)


def test_a_verdict_is_never_a_go_for_another_build_than_the_one_asked_about(
        service: Service) -> None:
    with service.client() as client:
        started = client.post("/runs", json={"tags": "@p1", "target": "local",
                                             "version": "1.4.2"})
        done = poll_until_finished(client, started.headers["location"])
        argo = client.get("/verdict", params={"tags": "@p1", "target": "local",
                                              "version": "9.9.9"})
    assert done["version_matches"] is False and done["decision"] == "GO"  # what the gate found
    assert done["outcome"] == "not judged"  # but not about build 1.4.2
    assert done["reason"] == ("the target runs build 1.0.0, not 1.4.2: this verdict is not "
                              "about the build asked for")
    assert argo.status_code == 503 and "runs build 1.0.0, not 9.9.9" in argo.json()["error"]
    with service.client(token=None) as client:
        flagger = client.post("/hooks/flagger", json={"metadata": {
            "target": "local", "tags": "@p1", "token": TOKEN, "version": "9.9.9"}})
    assert flagger.status_code == 412 and "runs build 1.0.0, not 9.9.9" in flagger.text


def test_spinnaker_starts_then_polls_and_two_requests_for_one_target_join(service: Service) -> None:
    request = {"tags": "@p1", "target": "local", "version": "1.0.0"}
    with service.client() as client:
        first = client.post("/runs", json=request)
        second = client.post("/runs", json=request)
        assert first.status_code == 202 and second.status_code == 202
        run_id = first.json()["id"]
        assert first.headers["location"] == f"/runs/{run_id}"
        assert first.json()["joined"] is False
        assert second.json()["id"] == run_id and second.json()["joined"] is True
        assert client.get(f"/runs/{run_id}/report.html").status_code == 409  # still running
        done = poll_until_finished(client, first.headers["location"])
        assert done["decision"] == "GO" and done["version_matches"] is True
        assert done["outcome"] == "GO" and first.json()["outcome"] in ("queued", "running")
        html = client.get(f"/runs/{run_id}/report.html")
        markdown = client.get(f"/runs/{run_id}/report.md")
        results = client.get(f"/runs/{run_id}/results.json")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert markdown.text.startswith("# ") and "GO" in markdown.text.splitlines()[0]
    assert results.json()["verdict"]["decision"] == "GO"
    # One run was made for both requests, and it is in the history like a command-line run.
    runs = list((service.folder / "runs").iterdir())
    assert sum(p.name == run_id for p in runs) == 1
    history = service.folder.parent / "history.sqlite"
    with sqlite3.connect(history) as db:
        recorded = db.execute("SELECT count(*) FROM runs WHERE run_id=? AND state='finished'",
                              (done["run_id"],)).fetchone()[0]
    assert recorded == 1


def test_a_verdict_that_takes_longer_than_asked_is_504_and_the_run_goes_on(service: Service) -> None:
    with service.client() as client:
        answer = client.get("/verdict", params={"tags": "@p1", "target": "local+slow-responses",
                                                "timeout": "0.5"})
        assert answer.status_code == 504
        message = answer.json()["error"]
        assert "is still going after 0.5 s" in message
        run_id = message.split()[1]
        assert poll_until_finished(client, f"/runs/{run_id}")["decision"] is not None


def test_every_endpoint_but_health_needs_the_token(service: Service) -> None:
    with service.client(token=None) as anonymous, service.client(token="wrong") as wrong:
        assert anonymous.get("/health").status_code == 200
        for client, says in ((anonymous, "needs the service token"), (wrong, "token is wrong")):
            for method, path in (("GET", "/verdict?tags=@p1&target=local"), ("POST", "/runs"),
                                 ("GET", "/runs/x"), ("GET", "/runs/x/report.html"),
                                 ("GET", "/metrics"), ("POST", "/hooks/flagger"),
                                 ("GET", "/catalog"), ("GET", "/runs/catalog.html")):
                answer = client.request(method, path, json={"tags": "@p1", "target": "local"})
                assert answer.status_code == 401, (method, path)
                assert says in answer.text
                no_secret(answer.text)
        assert anonymous.get("/health").json()["runs"] == 0  # nothing was started


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"tags": "@p1", "target": "staging"}, 404, "is not on this service's allow-list"),
    ({"tags": "@p1", "target": "https://evil.example"}, 404, "is not on this service's allow-list"),
    ({"tags": "@p1", "target": "local+no-such-fault"}, 404, "unknown stand-in fault 'no-such-fault'"),
    ({"tags": "@p1"}, 400, "name the target"),
    ({"target": "local"}, 400, "give tags as a behave tag expression"),
    ({"tags": "@p1 and (", "target": "local"}, 400, "cannot be read"),
    ({"tags": "@p1", "target": "local", "version": 7}, 400, "version must be"),
    ([1, 2], 400, "must be a JSON object"),
    ("not json", 400, "the body is not JSON"),
    ({"tags": "-@x:y", "target": "local"}, 400, "the tag expression '-@x:y' cannot be read"),
    ({"tags": "@a:1 @a:2", "target": "local"}, 400, "the tag expression '@a:1 @a:2' cannot be read"),
    pytest.param("[" * 30_000 + "]" * 30_000, 400, "nested deeper than 64 levels", id="nested"),
])
def test_bad_requests_are_a_status_and_one_sentence(service: Service, body: object, status: int,
                                                     says: str) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    with service.client() as client:
        answer = client.post("/runs", content=content)
    assert answer.status_code == status
    message = answer.json()["error"]
    assert says in message and "\n" not in message


def test_metrics_parse_and_carry_the_verdicts(service: Service) -> None:
    with service.client() as client:
        client.get("/verdict", params={"tags": "@p1", "target": "local"})
        client.get("/verdict", params={"tags": "@p1", "target": "local+missing-mcp-tables"})
        answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    verdict = {(s.labels["target"], s.labels["decision"]): s.value
               for s in families["stagecheck_verdict"].samples if s.labels["tags"] == "@p1"}
    assert verdict[("local", "GO")] == 1 and verdict[("local", "NO-GO")] == 0
    assert verdict[("local+missing-mcp-tables", "NO-GO")] == 1
    at_risk = {s.labels["target"]: s.value for s in families["stagecheck_revenue_at_risk_dollars"].samples}
    assert at_risk["local"] == 0 and at_risk["local+missing-mcp-tables"] == 120_000
    runs = {(s.labels["target"], s.labels["decision"]): s.value
            for s in families["stagecheck_runs"].samples if s.name == "stagecheck_runs_total"}
    assert runs[("local", "GO")] >= 1 and runs[("local+missing-mcp-tables", "NO-GO")] >= 1
    durations = families["stagecheck_scenario_duration_seconds"]
    assert durations.type == "histogram"
    counts = [s for s in durations.samples if s.name.endswith("_count") and s.labels["target"] == "local"]
    assert sum(s.value for s in counts) >= 14
    tier = {(s.labels["target"], s.labels["outcome"]): s.value
            for s in families["stagecheck_tier_scenarios"].samples if s.labels["tier"] == "P1"}
    assert tier[("local+missing-mcp-tables", "failed")] == 2
    no_secret(answer.text)


def test_the_queue_is_bounded(tmp_path: Path) -> None:
    service = start_service(tmp_path, "service_queue=1")
    try:
        with service.client() as client:
            first = client.post("/runs", json={"tags": "@p1", "target": "local"})
            joined = client.post("/runs", json={"tags": "@p1", "target": "local"})
            other = client.post("/runs", json={"tags": "@p1", "target": "local+health-down"})
            assert first.status_code == 202 and joined.json()["joined"] is True
            assert other.status_code == 429
            assert other.json()["error"].startswith("the service already holds 1 runs")
            poll_until_finished(client, first.headers["location"])
            assert client.post("/runs", json={"tags": "@p1", "target": "local+health-down"}
                               ).status_code == 202
    finally:
        stop_service(service)


def test_the_service_refuses_to_start_without_a_token_or_with_a_bad_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STAGECHECK_SERVICE_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    base = [sys.executable, "-m", "stagecheck", "serve", "--port", "0",
            "-D", f"report_dir={tmp_path}"]
    missing = subprocess.run(base, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("stagecheck serve: set STAGECHECK_SERVICE_TOKEN to a secret "
                                      "of at least 16 characters; every endpoint but /health asks for it")
    env["STAGECHECK_SERVICE_TOKEN"] = TOKEN
    env.pop("STAGING_BASE_URL", None)
    staging = subprocess.run([*base, "-D", "service_targets=staging"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert staging.returncode == 2
    assert staging.stderr.startswith("stagecheck serve: service target staging: target=staging "
                                     "needs the backend URL")
    assert TOKEN not in staging.stderr + staging.stdout


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _read_answer(raw: socket.socket) -> str:
    """One whole HTTP answer: the head, then as many body bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = raw.recv(4096)
        if not chunk:
            return data.decode("latin-1")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = raw.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_a_huge_body_is_refused_without_the_token_and_without_filling_memory(
        service: Service) -> None:
    before = _rss_mb(service.process.pid)

    def chunks():  # 200 MiB, chunked: no Content-Length to refuse it by
        block = b"x" * 2 ** 20
        for _ in range(200):
            yield block

    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:  # says 500 MiB, sends none
        raw.sendall(f"POST /hooks/flagger HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
                    f"application/json\r\nContent-Length: {500 * 2 ** 20}\r\n\r\n".encode())
        declared = _read_answer(raw)
    with service.client(token=None) as client:
        try:
            streamed = client.post("/hooks/flagger", content=chunks()).status_code
        except httpx.TransportError:  # the service answered 413 and closed while we sent
            streamed = 413
    assert declared.startswith("HTTP/1.1 413") and "larger than 64 KiB" in declared
    assert streamed == 413
    assert _rss_mb(service.process.pid) - before < 50  # 200 MiB sent, nothing like it held
