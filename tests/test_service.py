"""`stagecheck serve` driven over real loopback HTTP against the embedded stand-in: the Argo
web-metric verdict, the Flagger hook, Spinnaker's start-then-poll, joined requests, the
bounded queue, the token, the allow-list, bad input, and /metrics parsed with
prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import queue
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


def start_service(tmp: Path, *defines: str, env: dict[str, str] | None = None,
                  options: tuple[str, ...] = (), descriptors: int | None = None) -> Service:
    """`python -m stagecheck serve --port 0` as a process of its own (with at most `descriptors`
    open files when given); its first line says where it listens (read with a bound)."""
    env = {**os.environ, "STAGECHECK_SERVICE_TOKEN": TOKEN, "E2E_OAUTH_SIMULATION_KEY": BYPASS,
           "PYTHONPATH": str(ROOT), **(env or {})}
    args = [arg for pair in (*FAST_DEFINES, f"report_dir={tmp / 'reports'}", *defines)
            for arg in ("-D", pair)]

    def limit() -> None:
        if descriptors is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))

    process = subprocess.Popen([sys.executable, "-m", "stagecheck", "serve", "--port", "0",
                                *options, *args], preexec_fn=limit,
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
                               stderr=open(tmp / "service.log", "a"))  # noqa: SIM115 - lives with the process
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
    # A deadline that no clean run nears, and the slow-responses run of the 504 test reaches.
    running = start_service(tmp_path_factory.mktemp("service"), "service_deadline=20")
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
    assert body["report_url"] == f"/runs/{body['id']}/report.html"  # relative: no report_base_url
    no_secret(answer.text)
    _report_links_lead_to_the_catalog(service, body["report_url"])


def _report_links_lead_to_the_catalog(service: Service, report_url: str) -> None:
    """Each scenario of the run report links to its entry in the catalog, which the service
    serves behind the token (at /catalog, and where the report's relative links lead), with the
    statuses of the service's own history."""
    with service.client() as client:
        page = client.get(report_url).text
        links = re.findall(r'<a href="(/runs/catalog\.html#[^"]+)"', page)
        assert len(links) == 15
        target = httpx.URL(report_url).join(links[0])
        catalog = client.get(target)
        assert catalog.status_code == 200 and catalog.headers["content-type"].startswith("text/html")
        assert client.get("/catalog").text.count('<article class="scenario"') == 44
    # Its filters run under the service's policy: its one inline script allowed by its hash,
    # no inline handler (which no hash allows), nothing else.
    script = re.search(r"<script>(.*?)</script>", catalog.text, re.S)
    assert script and re.search(r"<[^>]+\son[a-z]+=", catalog.text) is None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert catalog.headers["content-security-policy"].endswith(f"script-src 'sha256-{digest}'")
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
    assert done["version_matches"] is False and done["target_version"] == "1.0.0"
    assert done["outcome"] == "not judged" and done["decision"] == "COULD NOT JUDGE"
    assert done["reason"] == ("the target reports 1.0.0, not 1.4.2: this verdict is not "
                              "about the build asked for")
    assert argo.status_code == 503 and argo.json()["error"] == (
        "the gate could not judge: the target reports 1.0.0, not 9.9.9: this verdict is not "
        "about the build asked for")
    with service.client(token=None) as client:
        flagger = client.post("/hooks/flagger", json={"metadata": {
            "target": "local", "tags": "@p1", "token": TOKEN, "version": "9.9.9"}})
    assert flagger.status_code == 412
    assert flagger.text.startswith("could not judge: the target reports 1.0.0, not 9.9.9")
    # The history says what the service said: not judged.
    gate_run = json.loads((service.folder / "runs" / done["id"] / "latest" / "results.json"
                           ).read_text())["facts"]["run_id"]
    with sqlite3.connect(service.folder.parent / "history.sqlite") as db:
        assert db.execute("SELECT verdict FROM runs WHERE run_id=?", (gate_run,)
                          ).fetchone() == ("COULD NOT JUDGE",)


def test_spinnaker_starts_then_polls_and_requests_join_only_a_run_not_yet_started(
        service: Service) -> None:
    request = {"tags": "@p1", "target": "local", "version": "1.0.0"}
    with service.client() as client:
        first = client.post("/runs", json=request)
        # The first run has started: it may have seen the build before a deploy, so a request
        # now gets a run of its own, which the next request joins while it waits.
        second = client.post("/runs", json=request)
        third = client.post("/runs", json=request)
        assert {first.status_code, second.status_code, third.status_code} == {202}
        run_id = first.json()["id"]
        assert first.headers["location"] == f"/runs/{run_id}"
        assert first.json()["joined"] is False and first.json()["outcome"] == "running"
        assert second.json()["id"] != run_id and second.json()["joined"] is False
        assert second.json()["outcome"] == "queued"
        assert third.json()["id"] == second.json()["id"] and third.json()["joined"] is True
        assert client.get(f"/runs/{run_id}/report.html").status_code == 409  # still running
        done = poll_until_finished(client, first.headers["location"])
        assert done["decision"] == "GO" and done["version_matches"] is True
        assert done["outcome"] == "GO" and "run_id" not in done  # one name for a run: its id
        assert done["target_version_at_start"] == done["target_version"] == "1.0.0"
        assert poll_until_finished(client, second.headers["location"])["outcome"] == "GO"
        html = client.get(f"/runs/{run_id}/report.html")
        markdown = client.get(f"/runs/{run_id}/report.md")
        results = client.get(f"/runs/{run_id}/results.json")
        # Links never come from the Host header a caller sends.
        spoofed = client.get(f"/runs/{run_id}", headers={"Host": "evil.example"}).json()
        assert spoofed["report_url"] == f"/runs/{run_id}/report.html"
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for answer in (html, markdown, results):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-security-policy"].startswith("default-src 'none'; "
                                                                    "style-src 'unsafe-inline';")
    assert "<script" not in html.text and "src=" not in html.text  # nothing the policy blocks
    styled = _in_a_browser_under_the_policy(f"{service.url}/runs/{run_id}/report.html",
                                            service.folder.parent / "profile")
    if styled is not None:  # the report's own style holds, a script put into it does not run
        assert styled == {"verdict": "rgb(26, 127, 55)", "bar": "rgb(26, 127, 55)",
                          "script_ran": False}
    assert markdown.text.startswith("# ") and "GO" in markdown.text.splitlines()[0]
    assert results.json()["verdict"]["decision"] == "GO"
    # Three requests made two runs, each in the history like a command-line run.
    runs = {p.name for p in (service.folder / "runs").iterdir()}
    assert {run_id, second.json()["id"]} <= runs
    history = service.folder.parent / "history.sqlite"
    with sqlite3.connect(history) as db:
        recorded = db.execute("SELECT count(*) FROM runs WHERE run_id=? AND state='finished'",
                              (results.json()["facts"]["run_id"],)).fetchone()[0]
    assert recorded == 1
    # A symlink in the report folder is never followed: neither a file nor `latest` pointed away.
    latest = service.folder / "runs" / run_id / "latest"
    outside = service.folder.parent / "outside"
    outside.mkdir()
    (outside / "report.html").write_text("not this run's")
    (latest / "report.md").unlink()
    (latest / "report.md").symlink_to(outside / "report.html")
    (latest / "results.json").unlink()
    (latest / "results.json").symlink_to("report.html")  # even inside the folder
    with service.client() as client:
        assert client.get(f"/runs/{run_id}/report.md").status_code == 404
        assert client.get(f"/runs/{run_id}/results.json").status_code == 404
        latest.unlink()
        latest.symlink_to(outside, target_is_directory=True)
        answer = client.get(f"/runs/{run_id}/report.html")
    assert answer.status_code == 404 and "not this run's" not in answer.text
    assert answer.json()["error"] == "report.html of this run is a link, and links are not served"


STYLED = """(() => {
  const injected = document.createElement("script");
  injected.textContent = "window.scriptRan = true";
  document.body.appendChild(injected);
  return {verdict: getComputedStyle(document.querySelector(".verdict")).backgroundColor,
          bar: getComputedStyle(document.querySelector(".bar-pass")).backgroundColor,
          script_ran: window.scriptRan === true};
})()"""


def _in_a_browser_under_the_policy(url: str, profile: Path) -> dict | None:
    """The served report in headless Chromium (the token sent as a header): its colours as
    computed and whether an inline script added to it ran; None when Chromium is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed, and CI must run the browser test")
        return None
    from tests.devtools import chromium

    async def look() -> dict:
        async with chromium(browser, profile) as page:
            await page.send("Network.enable")
            await page.send("Network.setExtraHTTPHeaders",
                            headers={"Authorization": f"Bearer {TOKEN}"})
            await page.open(url, 1280)
            return await page.evaluate(STYLED)

    return asyncio.run(look())


def test_a_verdict_that_takes_longer_than_asked_is_504_and_the_run_goes_on(service: Service) -> None:
    with service.client() as client:
        answer = client.get("/verdict", params={"tags": "@p1", "target": "local+slow-responses",
                                                "timeout": "0.5"})
        assert answer.status_code == 504
        message = answer.json()["error"]
        assert "is still going after 0.5 s" in message
        run_id = message.split()[1]
        done = poll_until_finished(client, f"/runs/{run_id}")
    # Stopped at its deadline: not judged, the deadline named, never a failure of the build.
    assert done["outcome"] == "not judged" and done["decision"] == "COULD NOT JUDGE"
    assert done["reason"].startswith("the run reached service_deadline (20 s) and was stopped")


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
            again = client.post("/runs", json={"tags": "@p1", "target": "local"})
            other = client.post("/runs", json={"tags": "@p1", "target": "local+health-down"})
            assert first.status_code == 202
            assert again.status_code == 429 and other.status_code == 429  # the first has started
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
    for spaced in (f"{TOKEN}\n", " " * 20):  # a file's last newline kept; only spaces
        env["STAGECHECK_SERVICE_TOKEN"] = spaced
        refused = subprocess.run(base, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr == (
            "stagecheck serve: STAGECHECK_SERVICE_TOKEN begins or ends with whitespace (a value "
            "read from a file often keeps its last newline): no caller's token would ever match "
            "it; set it again without it\n")
    env["STAGECHECK_SERVICE_TOKEN"] = TOKEN
    env.pop("STAGING_BASE_URL", None)
    staging = subprocess.run([*base, "-D", "service_targets=staging"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert staging.returncode == 2
    assert staging.stderr.startswith("stagecheck serve: service target staging: target=staging "
                                     "needs the backend URL")
    assert TOKEN not in staging.stderr + staging.stdout


def _memory_mb(pid: int, field: str = "VmRSS") -> float:
    """The process's resident memory now (VmRSS) or at its peak (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


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
    before = _memory_mb(service.process.pid)
    Path(f"/proc/{service.process.pid}/clear_refs").write_text("5")  # the peak starts again now

    def chunks():  # 200 MiB, chunked: no Content-Length to refuse it by
        block = b"x" * 2 ** 20
        for _ in range(200):
            yield block

    host, port = service.url.removeprefix("http://").split(":")

    def declared() -> str:  # says 500 MiB, sends none
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(f"POST /hooks/flagger HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
                        f"application/json\r\nContent-Length: {500 * 2 ** 20}\r\n\r\n".encode())
            return _read_answer(raw)

    def streamed() -> int:
        with service.client(token=None) as client:
            try:
                return client.post("/hooks/flagger", content=chunks()).status_code
            except httpx.TransportError:  # the service answered 413 and closed while we sent
                return 413

    with ThreadPoolExecutor(8) as pool:  # four of each at once
        answers = [pool.submit(declared) for _ in range(4)]
        statuses = [pool.submit(streamed) for _ in range(4)]
        answers, statuses = [f.result() for f in answers], [f.result() for f in statuses]
    peak = _memory_mb(service.process.pid, "VmHWM")
    for answer in answers:
        assert answer.startswith("HTTP/1.1 413") and "larger than 64 KiB" in answer
    assert statuses == [413] * 4
    print(f"service RSS {before:.1f} MiB before, peak {peak:.1f} MiB under the body attack")
    assert peak - before < 50, f"peak {peak:.0f} MiB, {before:.0f} MiB before"  # 2.8 GiB offered


NESTED = "[" * 100 + "]" * 100
FLAGGER = "/hooks/flagger"
JSON = "application/json"


@pytest.mark.parametrize(("token", "method", "path", "content", "content_type", "status"), [
    # (malformed heads: test_a_malformed_request_head_is_a_400_in_one_sentence)
    # Before the token: the body of /runs is never read, Flagger's is read (bounded) for its token.
    (None, "POST", "/runs", "-@x:y", JSON, 401),
    (None, "POST", "/runs", NESTED, JSON, 401),
    (None, "POST", FLAGGER, NESTED, JSON, 400),
    (None, "POST", FLAGGER, '{"metadata": "x"}', JSON, 400),
    (None, "POST", FLAGGER, '{"metadata": {"token": ["a"], "tags": "-@x:y"}}', JSON, 401),
    (None, "POST", FLAGGER, '{"metadata": {"token": "\u00fc\u2028", "tags": 1}}', JSON, 401),
    (None, "POST", FLAGGER, b'{"metadata": {"token": "\xff"}}', JSON, 400),
    (None, "POST", FLAGGER, "tags=@p1&target=local", "application/x-www-form-urlencoded", 400),
    (None, "GET", "/verdict?tags=-@x:y&timeout=nan", None, None, 401),
    # With the token: every malformed field is a 400 in one sentence, and starts no run.
    (TOKEN, "POST", "/runs", '{"tags": "or", "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1 or", "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": [1, 2], "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": {"a": 1}, "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": 1e999, "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1\\u0000", "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1\\u200b", "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "' + "a" * 600 + '", "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1", "target": ' + "9" * 5000 + "}", JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1", "target": ["local"]}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1", "target": "' + "l" * 300 + '"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1", "target": "local", "version": 1e999}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1", "target": "local", "version": "1\\n2"}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": "@p1", "target": "local", "version": {}}', JSON, 400),
    (TOKEN, "POST", "/runs", '{"tags": [' + NESTED + '], "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", b'{"tags": "\xff\xfe", "target": "local"}', JSON, 400),
    (TOKEN, "POST", "/runs", "\ufeff{}", JSON, 400),
    (TOKEN, "POST", "/runs", "", JSON, 400),
    (TOKEN, "POST", "/runs", "tags=@p1&target=local", "application/x-www-form-urlencoded", 400),
    (TOKEN, "POST", "/runs", "--b\r\nContent-Disposition: form-data; name=tags\r\n\r\n@p1\r\n--b--",
     "multipart/form-data; boundary=b", 400),
    (TOKEN, "POST", FLAGGER, '{"metadata": {"tags": "@a:1 @a:2", "target": "local"}}', JSON, 400),
    (TOKEN, "GET", "/verdict?tags=@p1&target=local&timeout=nan", None, None, 400),
    (TOKEN, "GET", "/verdict?tags=@p1&target=local&timeout=1e999", None, None, 400),
    (TOKEN, "GET", "/verdict?tags=@p1&target=local&timeout=-1", None, None, 400),
    (TOKEN, "GET", "/verdict?tags=%28&target=local", None, None, 400),
    (TOKEN, "GET", "/verdict?tags=%FF%FE&target=local", None, None, 400),  # not UTF-8
    (TOKEN, "GET", "/verdict?" + "&".join(["tags=@p1"] * 300) + "&target=local", None, None, 400),
    (TOKEN, "GET", "/verdict?tags=@p1&target=local%00", None, None, 404),
    (TOKEN, "GET", "/runs/%00%ff", None, None, 404),
    (TOKEN, "GET", "/runs/x/..%2f..%2fetc%2fpasswd", None, None, 404),
    (TOKEN, "PUT", "/runs", "{}", JSON, 405),
])
def test_malformed_input_is_a_status_and_one_sentence_before_or_after_the_token(
        service: Service, token: str | None, method: str, path: str, content: str | bytes | None,
        content_type: str | None, status: int) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    with service.client(token=token) as client:
        answer = client.request(method, path, content=content, headers=headers)
        assert client.get("/health").json()["runs"] == 0  # nothing was started
    assert answer.status_code == status, answer.text
    text = answer.text
    assert "\n" not in text.strip() and "Traceback" not in text and len(text) < 400, text
    if answer.headers["content-type"] == "application/json":
        assert set(answer.json()) == {"error"}
    no_secret(text)


def _raw(service: Service, head: bytes, timeout: float = 10) -> str:
    """Send these bytes on a connection of its own and read until the service closes it."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as raw:
        raw.sendall(head)
        raw.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
        return answer.decode("latin-1")


@pytest.mark.parametrize("head", [
    b"GARBAGE\r\n\r\n",
    b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000,  # and still no end of head
    b"POST /hooks/flagger HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["not-http", "length-abc", "length-negative", "two-lengths", "head-over-16k", "bad-chunk"])
def test_a_malformed_request_head_is_a_400_in_one_sentence(service: Service, head: bytes) -> None:
    answer = _raw(service, head)
    assert answer.startswith("HTTP/1.1 400 ")
    assert "Invalid HTTP request received." in answer.partition("\r\n\r\n")[2]  # maybe chunked


def test_the_token_in_a_header_is_checked_before_a_byte_of_the_body_is_read(service: Service) -> None:
    # Each request declares a body and sends none: the answer cannot wait for it (408 would).
    for path, token in (("/hooks/flagger", "wrong"), ("/runs", "wrong"), ("/runs", "")):
        header = f"Authorization: Bearer {token}\r\n" if token else ""
        answer = _raw(service, f"POST {path} HTTP/1.1\r\nHost: x\r\n{header}Content-Type: "
                      "application/json\r\nContent-Length: 1000\r\n\r\n".encode())
        assert answer.startswith("HTTP/1.1 401 "), (path, answer)


def _status_of_answer(raw: socket.socket) -> str:
    """The status code the service answered on this connection before closing it ("" if none)."""
    try:
        head = raw.recv(64)
    except OSError:
        return ""
    return head.split(b" ")[1].decode() if head.startswith(b"HTTP/1.1 ") else ""


def test_slow_clients_are_closed_and_never_exhaust_the_descriptors_or_the_log(tmp_path: Path) -> None:
    # 256 descriptors: the service keeps 64 free, so it holds 192 connections at once.
    service = start_service(tmp_path, options=("--request-timeout", "2"), descriptors=256)
    host, port = service.url.removeprefix("http://").split(":")
    held: list[socket.socket] = []
    try:
        held.append(socket.create_connection((host, int(port)), timeout=30))  # kept alive:
        held[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(held[0]).startswith("HTTP/1.1 200 ")
        held[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # then half a second head
        for _ in range(5):  # a whole head, then half a body
            held.append(socket.create_connection((host, int(port)), timeout=30))
            held[-1].sendall(f"POST /runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                             "Content-Length: 100\r\n\r\n{\"tags\"".encode())
        for _ in range(300):  # half a head
            held.append(socket.create_connection((host, int(port)), timeout=30))
            held[-1].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        statuses = [_status_of_answer(raw) for raw in held]  # each answered, then closed
        with service.client(token=None) as client:
            health = client.get("/health", timeout=5)
    finally:
        for raw in held:
            raw.close()
        stop_service(service)
    assert statuses[:6] == ["408"] * 6  # the kept-alive one and the half bodies, after 2 s
    assert set(statuses) == {"408", "503"}  # each answered (none left hanging), some refused
    # (how many of each depends on when the kernel's queue is accepted, hence no exact count)
    assert health.status_code == 200
    log = (tmp_path / "service.log").read_text()
    assert len(log) < 10_000, log[-2000:]  # was 8 MB a second, "Too many open files"
    assert log.count("Too many open files") <= 3
