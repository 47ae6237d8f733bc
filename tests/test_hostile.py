"""Hostile conditions: every network wait bounded, one readable sentence, the report still
written, no secret in any output, and no harm to the target. Real sockets on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme

from standin import start_standin
from tests.behave_run import ROOT, run_behave, wait_until_running
from tests.hostile import (
    WebSocketTarget,
    bomb_server,
    closed_port,
    drip,
    gzip_bomb,
    http_server,
    raw_server,
    raw_websocket,
    silent_server,
)

KEY = "hostile-test-bypass-key-1234"
SHORT = ["-D", "http_timeout=1", "-D", "health_timeout=1", "-D", "connect_timeout=1",
         "-D", "ws_event_timeout=1", "-D", "agent_timeout=1"]
CAP = 20_000  # no output may carry more of a bad body than this (excerpts are ~2 KB)


def staging(tmp_path: Path, base: str, *args: str, ws: str | None = None, key: str = KEY,
            env: dict[str, str] | None = None):
    ws_args = ["-D", f"ws_url={ws}"] if ws else []
    return run_behave(tmp_path, "--tags=@p1", "-D", "target=staging", "-D", f"base_url={base}",
                      *ws_args, "-D", f"report_dir={tmp_path / 'reports'}", *args,
                      env={"E2E_OAUTH_SIMULATION_KEY": key, **(env or {})})


def report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())


def outputs(tmp_path: Path, run) -> dict[str, str]:
    latest = tmp_path / "reports" / "latest"
    found = {"console": run.stdout + run.stderr,
             **{name: (latest / name).read_text() for name in
                ("report.md", "report.html", "results.json")}}
    for junit in (tmp_path / "junit").glob("*.xml"):
        found[junit.name] = junit.read_text()
    return found


def test_refused_connections_fail_fast_as_unreachable_environment(tmp_path: Path) -> None:
    with closed_port() as url:
        run = staging(tmp_path, url)
        data = report(tmp_path)
    ran = [s for s in data["scenarios"] if s["status"] != "untested"]
    assert run.returncode == 2 and len(ran) == 15  # could not judge: the environment's fault
    unreachable = re.compile(rf"target unreachable: (http|ws)://127\.0\.0\.1:{url.rsplit(':', 1)[1]}/")
    for scenario in ran:
        assert scenario["status"] == "not judged", scenario["name"]
        assert unreachable.search(scenario["error_message"]), scenario["error_message"]
        assert scenario["classification"] == "environment"
    assert data["verdict"]["decision"] == "COULD NOT JUDGE"
    assert data["impact"]["revenue_at_risk"] == 0
    assert data["diagnosis"]["health"]["up"] is False


def test_refused_connections_end_a_stop_run_within_seconds(tmp_path: Path) -> None:
    with closed_port() as url:
        run = staging(tmp_path, url, "--stop")
    assert run.elapsed_s < 10
    assert "target unreachable: http://127.0.0.1" in run.stdout
    assert report(tmp_path)["verdict"]["decision"] == "COULD NOT JUDGE"


def test_silent_http_server_fails_after_the_configured_timeout(tmp_path: Path) -> None:
    with silent_server() as url:
        run = staging(tmp_path, url, "--stop", *SHORT)
    failed = next(s for s in report(tmp_path)["scenarios"] if s["status"] == "failed")
    assert "did not answer within 1 s" in failed["error_message"]
    assert failed["classification"] == "product defect"  # reached, and it never answered
    assert 0.9 < failed["duration_s"] < 3  # the 1 s timeout, not later
    assert run.elapsed_s < 15


def test_silent_websocket_handshake_fails_after_the_configured_timeout(tmp_path: Path) -> None:
    with start_standin() as standin, silent_server() as silent:
        run = staging(tmp_path, standin.urls.backend_url, "--stop", *SHORT,
                      ws=silent.replace("http", "ws") + "/ws", key=standin.bypass_key)
    failed = next(s for s in report(tmp_path)["scenarios"] if s["status"] == "failed")
    assert "no WebSocket handshake" in failed["error_message"] and "within 1 s" in failed["error_message"]
    assert 0.9 < failed["duration_s"] < 3
    assert run.elapsed_s < 15


def test_proxy_html_error_page_fails_with_status_and_short_excerpt(tmp_path: Path) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000 + b"</body></html>"
    with http_server(502, page, "text/html") as url:
        staging(tmp_path, url, "--stop")
    failed = next(s for s in report(tmp_path)["scenarios"] if s["status"] == "failed")
    assert "answered 502: <html><head><title>502 Bad Gateway" in failed["error_message"]
    assert len(failed["error_message"]) < 1000
    assert failed["key_finding"].startswith("502 Bad Gateway on POST")


@pytest.mark.parametrize("body", [b"this is not json", b'{"status": "heal', b"\xff\xfe\x00 not utf-8",
                                  b"z" * 10_000_000],
                         ids=["not-json", "truncated-json", "not-utf8", "10-mb"])
def test_bad_bodies_fail_clearly_with_capped_evidence_everywhere(tmp_path: Path, body: bytes) -> None:
    with http_server(200, body) as url:
        run = staging(tmp_path, url, "--name", "reports itself up", "--junit",
                      "--junit-directory", str(tmp_path / "junit"))
    failed = report(tmp_path)["scenarios"][0]
    assert failed["status"] == "failed"
    assert "expected a JSON body, but GET" in failed["error_message"]
    for name, text in outputs(tmp_path, run).items():
        assert len(text) < 200_000 + len(failed["name"]), name
        assert "z" * CAP not in text, name


@pytest.mark.parametrize(("mode", "scenario", "words"), [
    ("no-welcome", "is welcomed", "no welcome message arrived on ws://127.0.0.1"),
    ("close-mid-run", "answers a ping", "was closed (code 1011 'Internal error')"),
])
def test_misbehaving_websocket_fails_clearly_and_connections_close(tmp_path: Path, mode: str,
                                                                   scenario: str, words: str) -> None:
    with start_standin() as standin, WebSocketTarget(mode) as ws:
        staging(tmp_path, standin.urls.backend_url, *SHORT, "--name", scenario,
                ws=ws.url, key=standin.bypass_key)
        assert ws.wait_until_all_closed()
    failed = report(tmp_path)["scenarios"][0]
    assert failed["status"] == "failed" and words in failed["error_message"]


def test_websocket_flood_is_bounded_in_time_and_in_the_report(tmp_path: Path) -> None:
    with start_standin() as standin, WebSocketTarget("flood") as ws:
        run = staging(tmp_path, standin.urls.backend_url, *SHORT, "--name", "answers a ping",
                      ws=ws.url, key=standin.bypass_key)
        assert ws.wait_until_all_closed()
    failed = report(tmp_path)["scenarios"][0]
    assert "no pong arrived" in failed["error_message"] and "more not kept" in failed["error_message"]
    assert len(failed["exchanges"]) < 600
    assert run.elapsed_s < 20
    assert all(len(text) < 3_000_000 for text in outputs(tmp_path, run).values())


HOSTILE = b'<script>alert("x")</script> {{ 7*7 }} {% include "evil" %}'


def test_hostile_bodies_are_inert_in_the_reports(tmp_path: Path) -> None:
    with http_server(500, HOSTILE, "text/html") as url:
        run = staging(tmp_path, url, "--name", "reports itself up")
    found = outputs(tmp_path, run)
    assert "<script>" not in found["report.html"] and "&lt;script&gt;" in found["report.html"]
    assert "{{ 7*7 }}" in found["report.html"]  # shown as text, never evaluated
    markdown = found["report.md"]
    outside = "".join(part for i, part in enumerate(markdown.split("```")) if i % 2 == 0)
    assert "<script>" not in outside and "{{" not in outside and "{%" not in outside
    assert '<script>alert("x")</script>' in markdown  # as evidence, inside a code block


def test_secrets_appear_in_no_output(tmp_path: Path) -> None:
    """A full run with a known bypass key and token, then a run against a server that echoes
    credentials back: neither appears in the console, the reports or JUnit."""
    with start_standin() as standin:
        token = standin.state.tokens.issue("u-1", "gate@e2e.test", ["read"])
        env = {"STAGING_TEST_JWT_TOKEN": token}
        good = staging(tmp_path / "good", standin.urls.backend_url, "-D", "allow_destructive=true",
                       "--junit", "--junit-directory", str(tmp_path / "good" / "junit"),
                       key=standin.bypass_key, env=env)
        assert good.returncode == 0, good.stdout[-2000:]
        secrets = [standin.bypass_key, token]
        echo = json.dumps({"access_token": standin.bypass_key, "token_type": "Basic",
                           "Authorization": f"Bearer {token}", "cookie": "session=s3cr3t-cookie",
                           "X-E2E-Bypass-Key": standin.bypass_key}).encode()
        with http_server(200, echo) as url:
            bad = staging(tmp_path / "bad", url, "--junit", "--junit-directory",
                          str(tmp_path / "bad" / "junit"), key=standin.bypass_key, env=env)
    assert bad.returncode == 1
    for folder, run in (("good", good), ("bad", bad)):
        found = outputs(tmp_path / folder, run)
        assert any(name.endswith(".xml") for name in found)
        for name, text in found.items():
            for secret in [*secrets, "s3cr3t-cookie"]:
                assert secret not in text, f"{secret[:6]}… leaked into {folder}/{name}"
            assert "eyJ" not in text, f"a token leaked into {folder}/{name}"
    assert "[redacted]" in (tmp_path / "bad" / "reports" / "latest" / "report.md").read_text()


def test_credentials_over_plain_http_to_a_remote_host_are_refused_before_any_request(
        tmp_path: Path) -> None:
    run = staging(tmp_path, "http://api.staging.example.com")
    assert run.returncode == 2
    assert run.stderr.strip() == ("stagecheck: refusing to send credentials unencrypted to "
                                  "http://api.staging.example.com: use https:// and wss://, "
                                  "or a loopback address")
    assert run.scenarios == {} and not (tmp_path / "reports").exists()


@pytest.fixture(scope="module")
def tls_standin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    with start_standin(tls=(str(cert_file), str(key_file))) as standin:
        yield standin


def test_tls_is_verified_by_default(tmp_path: Path, tls_standin) -> None:
    assert tls_standin.urls.backend_url.startswith("https://")
    run = staging(tmp_path, tls_standin.urls.backend_url, key=tls_standin.bypass_key)
    data = report(tmp_path)
    assert run.returncode == 2 and data["verdict"]["decision"] == "COULD NOT JUDGE"
    ran = [s for s in data["scenarios"] if s["status"] == "not judged"]
    assert ran and all("could not be verified" in s["error_message"] and
                       s["classification"] == "environment" for s in ran)
    assert data["facts"]["insecure_tls"] is False


def test_insecure_tls_opts_out_and_the_report_says_so(tmp_path: Path, tls_standin) -> None:
    run = staging(tmp_path, tls_standin.urls.backend_url, "-D", "insecure_tls=true",
                  "-D", "allow_destructive=true", key=tls_standin.bypass_key)
    data = report(tmp_path)
    assert run.returncode == 0 and data["verdict"]["decision"] == "GO"
    assert data["facts"]["insecure_tls"] is True
    assert run.stdout.strip().splitlines()[-1].endswith(
        " · TLS certificates not verified (insecure_tls) · exit 0")  # the console line says so
    verdict = json.loads((tmp_path / "reports/latest/verdict.json").read_text())
    assert verdict["insecure_tls"] is True  # and what a pipeline reads
    assert "TLS certificates NOT verified" in (tmp_path / "reports/latest/report.md").read_text()
    assert 'id="insecure-tls"' in (tmp_path / "reports/latest/report.html").read_text()


DESTRUCTIVE = {"A message sent in a live session is acknowledged and kept in its conversation",
               "A user's messages come back in the order they were sent",
               "A user cannot see another user's conversation"}


def test_destructive_scenarios_run_on_staging_and_are_left_out_only_by_policy(
        tmp_path: Path) -> None:
    with start_standin() as standin:
        run = staging(tmp_path / "default", standin.urls.backend_url, key=standin.bypass_key)
        kept = staging(tmp_path / "kept", standin.urls.backend_url, "-D",
                       "allow_destructive=false", key=standin.bypass_key)
    data = report(tmp_path / "default")
    assert run.returncode == 0 and {s["status"] for s in data["scenarios"]} == {"passed"}
    data = report(tmp_path / "kept")
    left_out = {s["name"] for s in data["scenarios"] if s["status"] == "left out"}
    assert left_out == DESTRUCTIVE
    assert all("allow_destructive=false" in s["key_finding"] for s in data["scenarios"]
               if s["status"] == "left out")
    assert kept.failing() == set() and data["verdict"]["decision"] == "GO"
    assert kept.returncode == 0 and data["impact"]["revenue_unverified"] == 0


def test_destructive_scenarios_never_run_against_production(tmp_path: Path) -> None:
    with start_standin() as standin:
        refused = run_behave(tmp_path, "-D", "target=production", "-D", "allow_destructive=true",
                             "-D", f"base_url={standin.urls.backend_url}",
                             env={"E2E_OAUTH_SIMULATION_KEY": standin.bypass_key})
        run = run_behave(tmp_path, "--tags=@p1", "-D", "target=production",
                         "-D", f"base_url={standin.urls.backend_url}",
                         "-D", f"report_dir={tmp_path / 'reports'}",
                         env={"E2E_OAUTH_SIMULATION_KEY": standin.bypass_key})
    assert refused.returncode == 2 and "never run against production" in refused.stderr
    left_out = {s["name"]: s["key_finding"] for s in report(tmp_path)["scenarios"]
                if s["status"] == "left out"}
    assert set(left_out) == DESTRUCTIVE
    assert all("never runs against production" in why for why in left_out.values())
    assert run.failing() == set() and run.returncode == 0


@pytest.mark.parametrize(("args", "words"), [
    (["-D", "target=staging", "-D", "base_url=https://"], "setting base_url must be"),
    (["-D", "target=moon"], "setting target must be one of"),
    (["-D", "standin_fault=no-such-fault"], "unknown fault 'no-such-fault'"),
    (["-D", "ws_event_timeout=-5"], "ws_event_timeout must be a positive number"),
    (["-D", "colour=blue"], "unknown setting 'colour'"),
    (["-D", "insecure_tls=maybe"], "insecure_tls must be true or false"),
])
def test_bad_settings_stop_before_any_scenario_in_one_sentence(tmp_path: Path, args: list[str],
                                                               words: str) -> None:
    run = run_behave(tmp_path, *args, "-D", f"report_dir={tmp_path / 'reports'}",
                     env={"E2E_OAUTH_SIMULATION_KEY": KEY})
    assert run.returncode == 2
    assert words in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert run.scenarios == {}
    said = run.stderr.strip().removeprefix("stagecheck: ")  # and the verdict line carries it
    assert run.stdout.strip().splitlines()[-1] == f"Release gate: could not judge · {said} · exit 2"


def test_ctrl_c_mid_run_writes_the_report_marked_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "behave", "--tags=@p1", "--name", "reports itself up",
         "-D", "standin_fault=hang", "-D", "health_timeout=60",
         "-D", f"report_dir={tmp_path / 'reports'}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert wait_until_running(tmp_path / "reports" / "history.sqlite")
        started = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        stopped_in = time.perf_counter() - started
    finally:
        proc.kill()
    data = report(tmp_path)
    assert proc.returncode == 130 and stopped_in < 10
    line = proc.stdout.read().strip().splitlines()[-1]  # the verdict line, with its reason
    assert line.startswith("Release gate: NO-GO (interrupted) · 1 P1 scenario was not verified: "
                           "P1 “The backend reports itself up within its budget” · revenue at "
                           "risk $0 · report "), line
    assert data["facts"]["interrupted"] is True
    assert data["verdict"]["decision"] == "NO-GO"
    heading = (tmp_path / "reports" / "latest" / "report.md").read_text().splitlines()[0]
    assert heading == "# Release gate report: NO-GO (interrupted)"  # as the verdict line says
    # The stand-in lets its held answer go when it stops: no cancelled handler's traceback.
    assert "Traceback" not in proc.stderr.read()


# ---- Round 2: every exchange bounded in time and memory, with a clear cause -------------------

PEAK_RSS_BOUND_MB = 250  # the stated bound of a hostile run's memory (a clean run takes ~90 MB)
MEASURED: dict[str, tuple[float, float]] = {}  # condition -> (wall s, peak RSS MB), for the note


def measured(tmp_path: Path, condition: str, base: str, *args: str, ws: str | None = None,
             key: str = KEY, env: dict[str, str] | None = None):
    """A staging run under /usr/bin/time; returns the run and its peak RSS in MB."""
    rss_file = tmp_path / "rss"
    ws_args = ["-D", f"ws_url={ws}"] if ws else []
    run = run_behave(tmp_path, "--tags=@p1", "-D", "target=staging", "-D", f"base_url={base}",
                     *ws_args, "-D", f"report_dir={tmp_path / 'reports'}", *args,
                     env={"E2E_OAUTH_SIMULATION_KEY": key, **(env or {})}, timeout=120,
                     wrap=("/usr/bin/time", "-f", "%M", "-o", str(rss_file)))
    peak_mb = int(rss_file.read_text().strip().splitlines()[-1]) / 1024
    MEASURED[condition] = (run.elapsed_s, peak_mb)
    print(f"\nMEASURED {condition}: {run.elapsed_s:.1f} s, peak RSS {peak_mb:.0f} MB")
    return run, peak_mb


@pytest.mark.parametrize("where", ["headers", "body", "chunked"])
def test_slow_drip_ends_at_the_deadline_with_a_report(tmp_path: Path, where: str) -> None:
    with raw_server(drip(where)) as url:
        run, peak = measured(tmp_path, f"slow drip ({where})", url, "--name", "reports itself up",
                             *SHORT)
    failed = report(tmp_path)["scenarios"][0]
    assert failed["status"] == "failed"
    assert "no complete answer within 1 s (the server kept sending slowly)" in \
        failed["error_message"]
    assert failed["duration_s"] < 3
    assert run.elapsed_s < 15 and peak < PEAK_RSS_BOUND_MB  # the probe is bounded as well
    assert report(tmp_path)["diagnosis"]["health"]["up"] is False


def test_gzip_bomb_stops_at_the_body_cap(tmp_path: Path) -> None:
    with raw_server(bomb_server(gzip_bomb(1))) as url:
        run, peak = measured(tmp_path, "gzip bomb (1.8 KB -> 1 GiB)", url, "--name",
                             "reports itself up", *SHORT)
    failed = report(tmp_path)["scenarios"][0]
    assert "is larger than 16 MiB once decoded; reading stopped there" in failed["error_message"]
    assert peak < PEAK_RSS_BOUND_MB and run.elapsed_s < 20


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_write_the_report_and_remove_the_standin_folder(tmp_path: Path, sig) -> None:
    """Ctrl-C and SIGTERM (how CI cancels a job) both end the run within seconds, the report
    written and marked interrupted, and the stand-in's temporary folder gone."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "behave", "--tags=@p1", "--name", "reports itself up",
         "-D", "standin_fault=hang", "-D", "health_timeout=60",
         "-D", f"report_dir={tmp_path / 'reports'}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(temp)})
    try:
        assert wait_until_running(tmp_path / "reports" / "history.sqlite")
        assert any(temp.glob("standin-*"))
        started = time.perf_counter()
        proc.send_signal(sig)
        proc.wait(timeout=20)
        stopped_in = time.perf_counter() - started
    finally:
        proc.kill()
    MEASURED[f"{sig.name} mid-run"] = (stopped_in, 0.0)
    data = report(tmp_path)
    assert proc.returncode != 0 and stopped_in < 10
    assert data["facts"]["interrupted"] is True and data["verdict"]["decision"] == "NO-GO"
    assert not list(temp.glob("standin-*"))


@pytest.mark.parametrize(("mode", "words"), [
    ("ping-flood", "the target sent pings faster than it read our pongs"),
    ("fragment-flood", "the target sent a message over the 1 MiB limit"),
    ("oversize", "the target sent a message over the 1 MiB limit"),
    ("bad-utf8", "the target sent invalid UTF-8 in a message"),
    ("reserved-bits", "protocol error: reserved bits must be 0"),
    ("bad-close", "the target sent an invalid close code"),
])
def test_websocket_protocol_abuse_is_named_and_bounded(tmp_path: Path, mode: str,
                                                       words: str) -> None:
    with start_standin() as standin, raw_server(raw_websocket(mode)) as url:
        run, peak = measured(tmp_path, f"websocket {mode}", standin.urls.backend_url, *SHORT,
                             "--name", "answers a ping", ws=url.replace("http", "ws") + "/ws",
                             key=standin.bypass_key)
    failed = report(tmp_path)["scenarios"][0]
    assert failed["status"] == "failed" and words in failed["error_message"], \
        failed["error_message"]
    assert peak < PEAK_RSS_BOUND_MB and run.elapsed_s < 20


def test_websocket_redirect_names_where_it_pointed(tmp_path: Path) -> None:
    elsewhere = "ws://127.0.0.2:9/elsewhere"
    with start_standin() as standin, raw_server(raw_websocket("redirect", elsewhere)) as url:
        staging(tmp_path, standin.urls.backend_url, *SHORT, "--name", "answers a ping",
                ws=url.replace("http", "ws") + "/ws", key=standin.bypass_key)
    failed = report(tmp_path)["scenarios"][0]
    assert f"was redirected (302) to {elsewhere}, which the gate does not follow" in \
        failed["error_message"]


@pytest.mark.parametrize(("url", "words"), [
    ("nonsense", "setting database_url is not a database URL: 'nonsense'"),
    ("mysql+pymysql://gate:db-secret-9@db/x", "needs the database driver 'pymysql'"),
    ("sqlite:////nowhere/typo.sqlite", "names a SQLite file that does not exist: /nowhere/typo"),
])
def test_bad_database_url_stops_before_any_scenario(tmp_path: Path, url: str, words: str) -> None:
    run = run_behave(tmp_path, "-D", f"database_url={url}")
    assert run.returncode == 2 and run.scenarios == {}
    assert words in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "db-secret-9" not in run.stderr


def test_schema_probe_never_creates_a_database(tmp_path: Path) -> None:
    from stagecheck.gate.probes import probe_schema

    missing = tmp_path / "gone.sqlite"
    probe = probe_schema(f"sqlite:///{missing}", ("users",), ())
    assert not missing.exists()
    assert probe.reachable is False and "unable to open database file" in probe.error


BASIC_PASS, WS_TOKEN, WS_JWT = "basic-pass-7xq2", "ws-token-5kz9", "ws-jwt-3mm1"
DB_PASS, DB_QUERY_PASS = "db-pass-8vv4", "db-query-6ww0"


def encoded(secret: str) -> dict[str, str]:
    """A secret as a hostile server may echo it back."""
    import base64
    from urllib.parse import quote

    raw = secret.encode()
    return {"plain": secret, "base64": base64.b64encode(raw).decode(),
            "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "percent": quote(secret, safe=""), "percent-all": "".join(f"%{b:02X}" for b in raw),
            "json-unicode": "".join(f"\\u{ord(c):04x}" for c in secret),
            "basic": base64.b64encode(f"gate:{secret}".encode()).decode()}


def every_output(folder: Path, run) -> dict[str, str]:
    """The console, every file the run wrote (reports, verdict, JUnit) and the history."""
    found = {"console": run.stdout + run.stderr}
    for path in folder.rglob("*"):
        if path.is_file() and path.name not in ("behave.json", "rss"):
            found[str(path.relative_to(folder))] = path.read_bytes().decode("utf-8", "replace")
    history = folder / "reports" / "history.sqlite"
    with contextlib.closing(sqlite3.connect(history)) as db:
        found["history (rows)"] = "\n".join(db.iterdump())
    return found


def test_no_secret_in_any_output_in_any_encoding(tmp_path: Path) -> None:
    """Credentials in URLs (userinfo, ?token=, ?jwt=, ?password=) and a server echoing the key
    and the passwords back in their common encodings: none reaches any output."""
    secrets = [KEY, BASIC_PASS, WS_TOKEN, WS_JWT, DB_PASS, DB_QUERY_PASS]
    echo = json.dumps({"echo": [form for s in secrets for form in encoded(s).values()],
                       "authorization": "Basic " + encoded(KEY)["basic"]}).encode()
    database = f"postgresql+psycopg://gate:{DB_PASS}@127.0.0.1:1/db?password={DB_QUERY_PASS}"
    runs = {}
    with start_standin() as standin, http_server(200, echo) as echo_url:
        for name, base, ws in (("standin", standin.urls.backend_url, standin.urls.ws_url),
                               ("echo", echo_url, standin.urls.ws_url),
                               ("unreachable", echo_url, "ws://127.0.0.1:9/ws")):
            # userinfo on the API's URL sends Basic in place of the user's token (the check
            # before the first scenario names that setting): the judged run carries it on the
            # auth URL, whose sign-in reads only the bypass key's header
            auth = ["-D", f"auth_url={base.replace('http://', f'http://gate:{BASIC_PASS}@')}"]
            if name != "standin":
                base, auth = base.replace("http://", f"http://gate:{BASIC_PASS}@"), []
            folder = tmp_path / name
            runs[name] = staging(folder, base, *SHORT, *auth, "-D", f"database_url={database}",
                                 "-D", "allow_destructive=false",
                                 "--junit", "--junit-directory", str(folder / "junit"),
                                 ws=f"{ws}?token={WS_TOKEN}&jwt={WS_JWT}",
                                 key=KEY if name != "standin" else standin.bypass_key)
            secrets.append(standin.bypass_key)
    for name, run in runs.items():
        # GO on the stand-in (the writing scenarios left out by policy); NO-GO where the
        # echoing target answers with what is not the platform's.
        assert run.returncode == (0 if name == "standin" else 1), run.stdout[-2000:]
        if name == "standin":
            assert run.failing() == set(), run.stdout[-2000:]
        found = every_output(tmp_path / name, run)
        assert any(path.endswith(".xml") for path in found) and "history (rows)" in found
        for where, text in found.items():
            for secret in secrets:
                for encoding, form in encoded(secret).items():
                    assert form not in text, f"{secret} ({encoding}) leaked into {name}/{where}"
    assert "[redacted]" in (tmp_path / "echo" / "reports" / "latest" / "results.json").read_text()


CONTROL = (b"\x1b]0;pwned window\x07\x1b[2J\x1b[32mRelease gate: GO\x1b[0m\r\x00\x0c\x08"
           b"\xc2\x9b31m \xe2\x80\xae reversed <b>bold</b> | cell")


def test_control_characters_from_the_target_are_inert_everywhere(tmp_path: Path) -> None:
    """A body of terminal escapes, NUL, C1 controls and a bidi override: the console shows
    them as escapes, JUnit stays valid XML, and no report carries a raw control character."""
    import xml.etree.ElementTree as ElementTree

    with http_server(500, CONTROL, "text/html") as url:
        run, _peak = measured(tmp_path, "control characters", url, "--name", "reports itself up",
                              "--junit", "--junit-directory", str(tmp_path / "junit"))
    found = outputs(tmp_path, run)
    raw = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")
    for name, text in found.items():
        assert not raw.search(text), f"a raw control character reached {name}"
    for junit in (tmp_path / "junit").glob("*.xml"):
        ElementTree.parse(junit)  # raises on malformed XML
    assert "\\x1b[32mRelease gate: GO" in found["console"]  # shown, inert
    assert "<b>bold</b>" not in found["report.html"]
    outside = "".join(p for i, p in enumerate(found["report.md"].split("```")) if i % 2 == 0)
    assert "<b>" not in outside


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "http_proxy"])
def test_a_proxy_for_plain_http_is_refused_before_anything_is_sent(tmp_path: Path,
                                                                    variable: str) -> None:
    received: list[bytes] = []

    def sink(conn, stop) -> None:
        conn.settimeout(0.2)
        while not stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            received.append(data)

    with start_standin() as standin, raw_server(sink) as proxy:
        run = staging(tmp_path, standin.urls.backend_url, key=standin.bypass_key,
                      env={variable: proxy, "NO_PROXY": "", "no_proxy": ""})
    assert run.returncode == 2 and run.scenarios == {}
    assert run.stderr.strip().startswith("stagecheck: refusing to send credentials in clear "
                                         f"text through the proxy {proxy}")
    assert len(run.stderr.strip().splitlines()) == 1 and received == []


@contextlib.contextmanager
def standin_process(tmp_path: Path, *args: str):
    """`python -m standin` under /usr/bin/time on an ephemeral port: (process, backend URL,
    peak-RSS file); stopped with SIGINT on the way out."""
    rss = tmp_path / "standin-rss"
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(rss), sys.executable, "-m",
                             "standin", "--port", "0", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "E2E_OAUTH_SIMULATION_KEY": KEY},
                            start_new_session=True)
    try:
        line = proc.stdout.readline()
        yield proc, re.search(r"backend (\S+)", line).group(1), rss
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # its own group: time passes SIGINT on to it
        proc.wait(timeout=20)


def test_standin_refuses_huge_bodies_and_deep_nesting(tmp_path: Path) -> None:
    """4 x 200 MB bodies on an unauthenticated route are refused (413) without being read,
    a body without a length is cut at the cap, and nesting 100 000 deep answers 422."""
    import httpx

    def endless(total: int):
        chunk = b"x" * 2 ** 20
        for _ in range(total // len(chunk)):
            yield chunk

    with standin_process(tmp_path) as (_proc, backend, rss), httpx.Client(timeout=30) as client:
        declared = [client.post(f"{backend}/auth/validate", content=b"x" * (200 * 2 ** 20))
                    for _ in range(4)]
        streamed = client.post(f"{backend}/auth/validate", content=endless(200 * 2 ** 20))
        deep = client.post(f"{backend}/auth/e2e/test-auth", headers={"X-E2E-Bypass-Key": KEY},
                           content=b"[" * 100_000 + b"]" * 100_000)
        health = client.get(f"{backend}/health")
    peak_mb = int(rss.read_text().split()[-1]) / 1024
    MEASURED["stand-in: 4 x 200 MB bodies, a streamed one, deep nesting"] = (0.0, peak_mb)
    print(f"\nMEASURED stand-in under 5 x 200 MB bodies: peak RSS {peak_mb:.0f} MB")
    assert [r.status_code for r in declared] == [413] * 4 and streamed.status_code == 413
    assert "larger than 1048576 bytes" in declared[0].json()["detail"]
    assert deep.status_code == 422 and "nested more than 64 levels" in deep.json()["detail"]
    assert health.status_code == 200
    assert peak_mb < PEAK_RSS_BOUND_MB


def test_standin_answers_deep_nesting_on_a_session_and_never_sends_after_close(
        tmp_path: Path) -> None:
    import asyncio

    from websockets.asyncio.client import connect

    async def exercise(ws_url: str) -> tuple[dict, dict]:
        import httpx

        async with httpx.AsyncClient() as http:
            signed = (await http.post(ws_url.replace("ws://", "http://").removesuffix("/ws")
                                      + "/auth/e2e/test-auth", headers={"X-E2E-Bypass-Key": KEY},
                                      json={"email": "deep@e2e.test"})).json()
        headers = {"Authorization": f"Bearer {signed['access_token']}"}
        async with connect(ws_url, additional_headers=headers, open_timeout=5) as ws:
            await ws.send("[" * 20_000 + "]" * 20_000)
            error = None
            while error is None:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if "error" in frame["type"]:
                    error = frame
            await ws.send(json.dumps({"type": "ping"}))
            while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "pong":
                pass
        for _ in range(20):  # sessions closed mid-run: the stand-in must not send after close
            async with connect(ws_url, additional_headers=headers, open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "start_agent",
                                          "payload": {"user_request": "go"}}))
        return error, frame

    with standin_process(tmp_path) as (proc, backend, _rss):
        ws_url = backend.replace("http://", "ws://") + "/ws"
        error, pong = asyncio.run(exercise(ws_url))
    stderr = proc.stderr.read()
    assert "nested more than 64 levels" in json.dumps(error) and pong["type"] == "pong"
    assert "RecursionError" not in stderr and "Unexpected ASGI message" not in stderr, stderr


def test_standin_warns_when_listening_beyond_loopback(tmp_path: Path) -> None:
    from standin.limits import exposure_warning

    assert exposure_warning("127.0.0.1") == "" and exposure_warning("::1") == ""
    with standin_process(tmp_path, "--host", "0.0.0.0") as (proc, _backend, _rss):
        warning = proc.stdout.readline()
    assert warning.startswith("warning: the stand-in listens on 0.0.0.0, reachable from other")
