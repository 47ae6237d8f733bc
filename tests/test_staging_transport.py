"""A real staging's transport: verified TLS on https:// and wss:// alike, names that do not
resolve, TLS and reset failures named, throttling retried then named, and agents that stream
many frames. Real servers on loopback; the gate runs as a subprocess where it judges."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import trustme

from stagecheck.client.exchanges import ExchangeLog
from stagecheck.client.redact import Redactor
from stagecheck.errors import TargetError
from stagecheck.platform import contract
from stagecheck.platform.sessions import MAX_KEPT_FRAMES, open_session_async
from standin import start_standin
from tests.behave_run import BehaveRun, run_behave

P1_SCENARIOS = 14


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
    failed = [s for s in results(tmp_path)["scenarios"] if s["status"] in ("failed", "error")]
    assert run.returncode != 0 and len(failed) == P1_SCENARIOS
    for scenario in failed:
        assert "could not be verified" in scenario["error_message"], scenario["error_message"]
        assert "-D insecure_tls=true skips the check" in scenario["error_message"]
        assert scenario["classification"] == "environment"
    assert "Traceback" not in run.stdout + run.stderr


def _open(url: str, verify: bool = True):
    loop = asyncio.new_event_loop()
    try:
        attempt = loop.run_until_complete(open_session_async(
            url, None, ExchangeLog(Redactor([])), loop, 5, verify_tls=verify))
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
