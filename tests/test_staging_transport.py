"""A real staging's transport: verified TLS on https:// and wss:// alike, names that do not
resolve, TLS and reset failures named, throttling retried then named, and agents that stream
many frames. Real servers on loopback; the gate runs as a subprocess where it judges."""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
import trustme

from stagecheck.client.exchanges import ExchangeLog
from stagecheck.client.http import HttpClient
from stagecheck.client.network import resolve, resolve_async
from stagecheck.client.redact import Redactor
from stagecheck.client.throttle import throttles
from stagecheck.errors import (
    ConnectionReset,
    NameNotResolved,
    TargetError,
    Throttled,
    TlsFailed,
)
from stagecheck.platform import contract
from stagecheck.platform.sessions import MAX_KEPT_FRAMES, open_session_async
from stagecheck.run.world import WelcomeWait, environment_kept
from stagecheck.vocabulary import Classification
from standin import start_standin
from tests.behave_run import BehaveRun, run_behave
from tests.hostile import closed_port, http_server, raw_server, read_request

P1_SCENARIOS = 15


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> tuple[trustme.CA, Path]:
    """A CA of the test's own, and its certificate as a file SSL_CERT_FILE can name."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(ca_file)
    return ca, ca_file


@pytest.fixture(scope="module")
def tls_standin(authority, tmp_path_factory):
    """The stand-in serving https:// and wss:// with a certificate from the test's CA."""
    folder = tmp_path_factory.mktemp("tls")
    cert = authority[0].issue_cert("127.0.0.1")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    with start_standin(tls=(str(cert_file), str(key_file))) as standin:
        yield standin


def staging_gate(tmp_path: Path, standin, *args: str, env: dict[str, str] | None = None,
                 base_url: str | None = None, ws_url: str | None = None) -> BehaveRun:
    """The P1 gate against a staging named the way an operator names it: the environment."""
    return run_behave(tmp_path, "--tags=@p1", "-D", "target=staging",
                      "-D", "allow_destructive=true", *args,
                      env={"STAGING_BASE_URL": base_url or standin.urls.backend_url,
                           "STAGING_WEBSOCKET_URL": ws_url or standin.urls.ws_url,
                           "E2E_OAUTH_SIMULATION_KEY": standin.bypass_key, **(env or {})})


def results(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())


def test_a_staging_whose_ca_is_trusted_through_ssl_cert_file_is_judged_go(
        tmp_path: Path, tls_standin, authority) -> None:
    assert tls_standin.urls.ws_url.startswith("wss://")
    run = staging_gate(tmp_path, tls_standin, env={"SSL_CERT_FILE": str(authority[1])})
    data = results(tmp_path)
    passed = [s["name"] for s in data["scenarios"] if s["status"] == "passed"]
    assert (run.returncode, data["verdict"]["decision"]) == (0, "GO"), run.failing()
    assert len(passed) == P1_SCENARIOS and data["facts"]["insecure_tls"] is False


def test_the_same_staging_without_its_ca_trusted_is_named_not_crashed(
        tmp_path: Path, tls_standin) -> None:
    run = staging_gate(tmp_path, tls_standin)
    # the environment's fault: every P1 scenario not judged, the run could not judge (exit 2)
    failed = [s for s in results(tmp_path)["scenarios"] if s["status"] == "not judged"]
    assert run.returncode == 2 and len(failed) == P1_SCENARIOS
    for scenario in failed:
        assert "could not be verified" in scenario["error_message"], scenario["error_message"]
        assert "-D insecure_tls=true skips the check" in scenario["error_message"]
        assert scenario["classification"] == "environment"
    assert "Traceback" not in run.stdout + run.stderr


def _open(url: str, verify: bool = True, timeout: float = 5):
    """A session without a token: the refusal frame once accepted, else the attempt."""
    loop = asyncio.new_event_loop()
    try:
        attempt = loop.run_until_complete(open_session_async(
            url, None, ExchangeLog(Redactor([])), loop, timeout, verify_tls=verify))
        if attempt.session is not None:
            frame = attempt.session.receive_until(contract.is_error, 5, "the refusal")
            attempt.session.close()
            return frame
        return attempt
    finally:
        loop.close()


def test_wss_trusts_what_ssl_cert_file_names_and_refuses_what_it_does_not(
        tls_standin, authority, monkeypatch) -> None:
    with pytest.raises(TargetError, match=r"could not be verified \(.*\); -D insecure_tls=true"):
        _open(tls_standin.urls.ws_url)
    assert _open(tls_standin.urls.ws_url, verify=False)["type"] == "error_message"
    monkeypatch.setenv("SSL_CERT_FILE", str(authority[1]))
    assert _open(tls_standin.urls.ws_url)["type"] == "error_message"  # verified, then refused


AGENT_RUN = "A user's request streams its progress and completes"


def test_an_agent_streaming_thousands_of_frames_passes_and_the_evidence_stays_bounded(
        tmp_path: Path) -> None:
    with start_standin() as standin:
        standin.state.thinking_frames = 2_000
        run = staging_gate(tmp_path, standin, "--name", AGENT_RUN)
    scenario = next(s for s in results(tmp_path)["scenarios"] if s["name"] == AGENT_RUN)
    assert scenario["status"] == "passed", run.errors(AGENT_RUN)
    assert run.returncode == 0
    frames = [e for e in scenario["exchanges"] if e["action"].startswith("receive ")]
    assert len(frames) <= MAX_KEPT_FRAMES  # of the 2,000+ the session received
    assert frames[-1]["action"] == "receive agent_completed"  # the awaited end is evidence


# --- names that do not resolve (RFC 6761: .invalid never does, and needs no network) -------

NOWHERE = "staging.gate-test.invalid"


def test_a_name_that_does_not_resolve_is_named_for_http_and_websocket() -> None:
    http = HttpClient(ExchangeLog(Redactor([])), timeout=5, connect_timeout=2)
    started = time.perf_counter()
    with pytest.raises(NameNotResolved, match=f"the name {NOWHERE} does not resolve"):
        http.get(f"https://{NOWHERE}/health")
    with pytest.raises(NameNotResolved, match=f"the name {NOWHERE} does not resolve"):
        _open(f"wss://{NOWHERE}/ws", timeout=2)
    assert time.perf_counter() - started < 4
    http.close()


def _hung_lookup(release: threading.Event):
    def lookup(*args: object) -> list:
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    return lookup


def test_a_resolver_that_never_answers_is_cut_at_the_connect_timeout() -> None:
    """getaddrinfo ignores socket timeouts: the lookup itself is bounded (a resolver that
    hangs, as an unreachable DNS server does, stands in for one here)."""
    release = threading.Event()
    try:
        started = time.perf_counter()
        with pytest.raises(NameNotResolved, match=r"no answer from the DNS within 0\.3 s"):
            resolve("api.staging.example", 443, 0.3, lookup=_hung_lookup(release))
        with pytest.raises(NameNotResolved, match=r"no answer from the DNS within 0\.3 s"):
            asyncio.run(resolve_async("api.staging.example", 443, 0.3,
                                      lookup=_hung_lookup(release)))
        assert time.perf_counter() - started < 1.5
    finally:
        release.set()


def test_a_staging_whose_name_does_not_resolve_is_not_judged_a_product_failure(
        tmp_path: Path) -> None:
    run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging", "-D", "connect_timeout=2",
                     "-D", "allow_destructive=true",
                     env={"STAGING_BASE_URL": f"https://{NOWHERE}", "E2E_OAUTH_SIMULATION_KEY": "k"})
    # the environment's fault: every P1 scenario not judged, the run could not judge (exit 2)
    failed = [s for s in results(tmp_path)["scenarios"] if s["status"] == "not judged"]
    assert run.returncode == 2 and len(failed) == P1_SCENARIOS
    for scenario in failed:
        assert f"the name {NOWHERE} does not resolve" in scenario["error_message"]
        assert scenario["classification"] == "environment"
    assert "Traceback" not in run.stdout + run.stderr and run.elapsed_s < 60


# --- TLS handshakes and resets name themselves ------------------------------------------------

def _reset(conn: socket.socket, stop: threading.Event) -> None:
    """Reads the request, then resets the connection (RST, not a polite close)."""
    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_plain_http_server_behind_an_https_url_is_a_failed_tls_handshake() -> None:
    http = HttpClient(ExchangeLog(Redactor([])), timeout=5, connect_timeout=2)
    with http_server(200, b"{}") as url:
        secure = url.replace("http://", "https://")
        with pytest.raises(TlsFailed, match=rf"the TLS handshake with {secure}/health failed \("):
            http.get(f"{secure}/health")
        with pytest.raises(TlsFailed, match=r"the TLS handshake with wss://.* failed"):
            _open(url.replace("http://", "wss://") + "/ws")
    http.close()


def test_a_reset_connection_is_named_a_reset() -> None:
    http = HttpClient(ExchangeLog(Redactor([])), timeout=5, connect_timeout=2)
    with raw_server(_reset) as url:
        with pytest.raises(ConnectionReset, match=rf"the connection to {url}/health was reset"):
            http.get(f"{url}/health")
        with pytest.raises(ConnectionReset, match=r"the connection to ws://.* was reset"):
            _open(url.replace("http://", "ws://") + "/ws")
    http.close()


@pytest.mark.parametrize("trouble", ["tls", "reset"])
def test_a_whole_run_against_a_failed_tls_handshake_or_resets_is_the_environment(
        tmp_path: Path, trouble: str) -> None:
    """The run as a whole, not only the client: every P1 scenario not judged for the
    environment, with the cause named, the next step not "bring the backend back up"."""
    server = http_server(200, b"{}") if trouble == "tls" else raw_server(_reset)
    with server as url:
        scheme = "https://" if trouble == "tls" else "http://"
        base = url.replace("http://", scheme)
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging", "-D", "connect_timeout=2",
                         "-D", "allow_destructive=true",
                         env={"STAGING_BASE_URL": base, "E2E_OAUTH_SIMULATION_KEY": "k"})
    data = results(tmp_path)
    cause = "the TLS handshake with" if trouble == "tls" else "by a proxy or load balancer"
    assert run.returncode == 2, run.failing()
    assert [s["status"] for s in data["scenarios"]] == ["not judged"] * P1_SCENARIOS
    assert all(s["classification"] == "environment" and cause in s["error_message"]
               for s in data["scenarios"]), [(s["classification"], s["error_message"][:300])
                                             for s in data["scenarios"] if cause not in s["error_message"]]
    report = (tmp_path / "reports" / "latest" / "report.md").read_text()
    assert "Bring the backend back up" not in report and "Traceback" not in run.stdout + run.stderr


# --- throttling: retried as Retry-After asks, then named -------------------------------------

def _too_many(retry_after: str) -> bytes:
    return ("HTTP/1.1 429 Too Many Requests\r\nRetry-After: " + retry_after + "\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            ).encode()


def throttling_proxy(upstream: str, retry_after: str, times: int | None,
                     kinds: tuple[str, ...] = ("http", "ws")):
    """A loopback proxy in front of `upstream` that answers the first `times` HTTP requests and
    the first `times` WebSocket handshakes (of `kinds`) 429 with this Retry-After (every one
    when None), and pipes everything else through, as a rate limiter in front of a staging
    would."""
    host, port = upstream.removeprefix("http://").split(":")
    answered = {"http": 0, "ws": 0}
    lock = threading.Lock()

    def serve_one(conn: socket.socket, stop: threading.Event) -> None:
        request = read_request(conn)
        kind = "ws" if b"upgrade: websocket" in request.lower() else "http"
        with lock:
            throttle = kind in kinds and (times is None or answered[kind] < times)
            answered[kind] += throttle
        if throttle:
            conn.sendall(_too_many(retry_after))
            return
        with socket.create_connection((host, int(port)), timeout=5) as up:
            up.sendall(request)
            with selectors.DefaultSelector() as sides:
                sides.register(conn, selectors.EVENT_READ, up)
                sides.register(up, selectors.EVENT_READ, conn)
                while not stop.is_set():
                    for key, _ in sides.select(0.2):
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        key.data.sendall(data)

    return raw_server(serve_one), answered


def test_a_target_that_throttles_once_is_waited_for_and_judged_go(tmp_path: Path) -> None:
    with start_standin() as standin:
        proxy, answered = throttling_proxy(standin.urls.backend_url, "1", times=1)
        with proxy as url:
            run = staging_gate(tmp_path, standin, base_url=url,
                               ws_url=url.replace("http://", "ws://") + "/ws")
    data = results(tmp_path)
    assert answered == {"http": 1, "ws": 1}
    assert (run.returncode, data["verdict"]["decision"]) == (0, "GO"), run.failing()
    statuses = [e["status"] for s in data["scenarios"] for e in s["exchanges"]]
    # both met the checks before the first scenario (the bypass key's sign-in, then a live
    # session for that user), waited for and tried again there: no scenario saw one
    assert statuses.count(429) == 0


def test_a_target_that_keeps_throttling_is_named_throttled_never_a_security_finding(
        tmp_path: Path) -> None:
    with start_standin() as standin:
        proxy, _ = throttling_proxy(standin.urls.backend_url, "30", times=None)
        with proxy as url:
            run = staging_gate(tmp_path, standin, base_url=url,
                               ws_url=url.replace("http://", "ws://") + "/ws")
    # the environment's fault: every P1 scenario not judged, the run could not judge (exit 2)
    failed = [s for s in results(tmp_path)["scenarios"] if s["status"] == "not judged"]
    assert run.returncode == 2 and len(failed) == P1_SCENARIOS
    for scenario in failed:
        assert ("the target throttled the gate (429 Too Many Requests, Retry-After 30 s)"
                in scenario["error_message"]), scenario["error_message"]
        assert scenario["classification"] == "environment"
        assert "was not refused" not in scenario["key_finding"]
    assert run.elapsed_s < 60  # a 30 s Retry-After is named, not waited for


def test_throttling_is_retried_at_most_three_times_within_the_exchange_timeout() -> None:
    log = ExchangeLog(Redactor([]))
    http = HttpClient(log, timeout=5, connect_timeout=2)
    with http_server(429, b"{}") as url:  # 429 without Retry-After: the default wait, 1 s
        started = time.perf_counter()
        with pytest.raises(Throttled, match=r"\(429 Too Many Requests, no Retry-After\) at GET "
                                            r".* after 3 tries"):
            http.get(f"{url}/health")
        waited = time.perf_counter() - started
        short = HttpClient(log, timeout=0.5, connect_timeout=0.5)
        with pytest.raises(Throttled, match="after 1 try"):  # no time left for a second one
            short.get(f"{url}/health")
    assert 2 <= waited < 4 and [e.status for e in log.exchanges] == [429] * 4
    http.close()
    short.close()


def test_a_throttled_handshake_is_never_taken_for_a_refusal() -> None:
    with (raw_server(lambda conn, stop: (read_request(conn), conn.sendall(_too_many("30"))))
          as url, pytest.raises(Throttled, match=r"Retry-After 30 s\) at the WebSocket handshake")):
        _open(url.replace("http://", "ws://") + "/ws")


@pytest.mark.parametrize(("status", "headers", "handshake", "throttling"), [
    (429, {}, False, True),
    (503, {"retry-after": "2"}, False, True),
    (503, {}, False, False),  # a health check's 503 is the product's answer, judged as such
    (503, {}, True, True),    # no 503 on a handshake is in the contract: never a refusal
    (401, {"retry-after": "2"}, True, False),
])
def test_what_counts_as_throttling(status: int, headers: dict, handshake: bool,
                                   throttling: bool) -> None:
    assert throttles(status, headers, handshake=handshake) is throttling


SESSION_SCENARIOS = ["A user who opens many sessions in a short time is still let in",
                     "5 users hold live sessions at the same time",
                     "A signed-in user opens a live session and is welcomed"]


@pytest.mark.parametrize("trouble", ["throttled", "unreachable"])
def test_live_sessions_the_environment_keeps_from_working_are_never_the_products_failure(
        tmp_path: Path, trouble: str) -> None:
    """Only the WebSocket endpoint in trouble, the API healthy: every scenario that needs a live
    session is not judged, for the environment (none failed, nothing at risk), exit 2."""
    with start_standin() as standin:
        if trouble == "throttled":
            proxy, _ = throttling_proxy(standin.urls.backend_url, "30", times=None, kinds=("ws",))
            with proxy as url:
                run = staging_gate(tmp_path, standin, ws_url=url.replace("http://", "ws://") + "/ws")
        else:
            with closed_port() as url:
                run = staging_gate(tmp_path, standin,
                                   ws_url=url.replace("http://", "ws://") + "/ws")
    data = results(tmp_path)
    found = {s["name"]: s for s in data["scenarios"]}
    assert run.returncode == 2, run.failing()
    assert [s["name"] for s in data["scenarios"] if s["status"] == "failed"] == []
    for name in SESSION_SCENARIOS:
        assert (found[name]["status"], found[name]["classification"]) == (
            "not judged", "environment"), (name, found[name]["error_message"])
    assert data["impact"]["revenue_at_risk"] == 0


def test_which_missing_welcomes_the_environment_is_blamed_for() -> None:
    """A rate limit, or an endpoint out of reach for every session, is the environment's; a
    target that welcomed some sessions and then reset or refused the rest fell over: its own."""
    env, product = Classification.ENVIRONMENT, Classification.PRODUCT
    welcomed = [WelcomeWait(seconds=0.1)] * 19
    reset = WelcomeWait(problem="the connection to ws://x/ws was reset", blame=env)
    throttled = WelcomeWait(problem="the target throttled the gate", blame=env, throttled=True)
    descriptors = WelcomeWait(problem="ran out of file descriptors", blame=env, machine=True)
    closed = WelcomeWait(problem="closed 1011", blame=product)
    assert environment_kept([*welcomed, throttled])
    assert environment_kept([reset] * 20)
    assert not environment_kept([*welcomed, reset])
    assert environment_kept([*welcomed, closed, descriptors])
    assert not environment_kept([reset, closed])
    assert not environment_kept(welcomed)
