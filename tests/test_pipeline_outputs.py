"""What a command-line run gives a release pipeline beside its exit status: the Prometheus
textfile (`-D metrics_file=`), the notifications to incoming webhooks (`-D notify=`, received
here by a local sink), and report links (`-D report_base_url=`)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stagecheck.config.settings import load_settings
from stagecheck.errors import ConfigError
from stagecheck.outputs.metrics import MAX_SELECTIONS, GateMetrics, write_metrics_file
from stagecheck.report.impact import decide, roll_up
from stagecheck.report.model import RunResult
from tests.behave_run import FAST, run_behave
from tests.test_view import seed_day

BYPASS = "bypass-key-never-in-a-message-7777"
JWT = "jwt-never-in-a-message-8888"
SECRETS_ENV = {"E2E_OAUTH_SIMULATION_KEY": BYPASS, "STAGING_TEST_JWT_TOKEN": JWT}
BASE = "https://reports.example.com/gate"


class Sink:
    """A Slack-compatible incoming webhook on loopback: records each POST; /refuse answers 500."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.received.append((self.path, body))
                status = 500 if self.path.startswith("/refuse") else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self) -> list[dict]:
        return [json.loads(body) for path, body in self.received if path.startswith("/hook")]


@pytest.fixture
def sink() -> Iterator[Sink]:
    running = Sink()
    yield running
    running.server.shutdown()
    running.server.server_close()


def verdict_of(folder: Path) -> dict:
    return json.loads((folder / "latest" / "verdict.json").read_text())


def test_a_no_go_is_posted_with_its_figures_and_link_then_the_recovery_and_no_secret(
        tmp_path: Path, sink: Sink) -> None:
    # The webhook's path stands for the secret part of a real Slack URL.
    common = ("-D", f"notify={sink.url}/hook/T000/B000/secret-path", "-D",
              f"report_base_url={BASE}", "-D", "standin_fault=health-down", *FAST)
    failing = run_behave(tmp_path, "--tags=@p1", *common, env=SECRETS_ENV)
    assert failing.returncode == 1
    run_id = verdict_of(tmp_path / "reports")["run_id"]
    link = f"{BASE}/{run_id}/report.html"
    assert verdict_of(tmp_path / "reports")["report_url"] == link
    assert re.fullmatch(rf"Release gate: NO-GO · 1 critical scenario failed: .* · revenue at risk "
                        rf"\$120K · report {re.escape(link)} · exit 1",
                        failing.stdout.strip().splitlines()[-1])
    [message] = sink.messages()
    assert message["text"].startswith("Release gate: NO-GO on local+health-down: 1 critical")
    blocks = "\n".join(b["text"]["text"] for b in message["blocks"] if "text" in b)
    assert message["blocks"][0]["text"]["text"] == "Release gate: NO-GO on local+health-down"
    fields = [f["text"] for f in message["blocks"][1]["fields"]]
    assert fields[:2] == ["*Verdict*\nNO-GO", "*Revenue at risk*\n$120K MRR"]
    assert "*Critical finding*\n" in blocks and "503" in blocks  # what was measured
    assert "*Next step*\n" in blocks
    assert message["blocks"][-1]["elements"][0]["text"] == f"<{link}|Open the report>"
    # Another selection on the same target passes: the recovery is posted, once.
    recovered = run_behave(tmp_path, "--tags=@area:chat", *common, env=SECRETS_ENV)
    assert recovered.returncode == 0
    assert [m["text"].splitlines()[0] for m in sink.messages()][1].startswith(
        "Release gate recovered: GO on local+health-down")
    again = run_behave(tmp_path, "--tags=@area:chat", *common, env=SECRETS_ENV)
    assert again.returncode == 0 and len(sink.messages()) == 2  # a GO after a GO says nothing
    for _, body in sink.received:
        text = body.decode()
        assert BYPASS not in text and JWT not in text and "secret-path" not in text
    for run in (failing, recovered, again):
        assert "secret-path" not in run.stdout + run.stderr


def test_a_hanging_or_refusing_endpoint_is_one_line_and_the_verdict_stands(
        tmp_path: Path, sink: Sink) -> None:
    hanging = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    urls = [f"http://127.0.0.1:{hanging.getsockname()[1]}/hang-path",
            f"{sink.url}/refuse/refuse-path", f"http://127.0.0.1:{closed_port}/closed-path"]
    try:
        started = time.monotonic()
        run = run_behave(tmp_path, "--tags=@p1", "-D", "standin_fault=health-down", "-D",
                         f"notify={','.join(urls)}", "-D", "notify_timeout=1", *FAST)
        elapsed = time.monotonic() - started
    finally:
        hanging.close()
    assert run.returncode == 1 and "Release gate: NO-GO" in run.stdout.strip().splitlines()[-1]
    lines = [line for line in run.stderr.splitlines() if "notification" in line]
    assert sorted(lines) == sorted([
        "stagecheck: the NO-GO notification to http://127.0.0.1 did not answer within 1 s; the "
        "run's verdict stands",
        "stagecheck: the NO-GO notification to http://127.0.0.1 was refused: HTTP 500 Internal "
        "Server Error; the run's verdict stands",
        "stagecheck: the NO-GO notification to http://127.0.0.1 failed: ConnectError; the run's "
        "verdict stands"])
    assert "path" not in run.stderr + run.stdout
    assert elapsed < 60


def test_metrics_file_is_a_textfile_that_keeps_every_target_and_counts_runs(tmp_path: Path) -> None:
    prom = tmp_path / "textfile" / "stagecheck.prom"
    go = run_behave(tmp_path, "--tags=@p1", "-D", f"metrics_file={prom}", *FAST)
    no_go = run_behave(tmp_path, "--tags=@p1", "-D", "standin_fault=missing-mcp-tables",
                       "-D", f"metrics_file={prom}", *FAST)
    assert (go.returncode, no_go.returncode) == (0, 1)
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    verdict = {(s.labels["target"], s.labels["decision"]): s.value
               for s in families["stagecheck_verdict"].samples}
    assert verdict[("local", "GO")] == 1 and verdict[("local+missing-mcp-tables", "NO-GO")] == 1
    runs = {(s.labels["target"], s.labels["decision"]): s.value
            for s in families["stagecheck_runs"].samples if s.name.endswith("_total")}
    assert runs == {("local", "GO"): 1, ("local+missing-mcp-tables", "NO-GO"): 1}
    assert not list(prom.parent.glob("stagecheck.prom.*"))  # written whole, nothing left over
    # Read back, a third run on a known target adds up rather than starting again.
    result = RunResult.from_json((tmp_path / "reports" / "latest" / "results.json").read_text())
    metrics = GateMetrics.from_text(prom.read_text())
    metrics.observe(result)
    again = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    counted = {(s.labels["target"], s.labels["decision"]): s.value
               for s in again["stagecheck_runs"].samples if s.name.endswith("_total")}
    assert counted[("local+missing-mcp-tables", "NO-GO")] == 2 and counted[("local", "GO")] == 1
    histogram = {s.labels["le"]: s.value for s in again["stagecheck_scenario_duration_seconds"].samples
                 if s.name.endswith("_bucket") and s.labels["target"] == "local+missing-mcp-tables"
                 and s.labels["feature"] == "Agent discovery"}
    assert histogram and histogram["+Inf"] == 2 * sum(
        1 for s in result.scenarios if s.feature == "Agent discovery" and s.status.ran)


def _selected(tags: str, scenarios: bool = True) -> RunResult:
    """The seed day's result (P1 failing) as a run of the selection `tags`."""
    result = seed_day()
    found = result.scenarios if scenarios else []
    return RunResult(result.schema_version, replace(result.facts, tag_expression=tags), found,
                     roll_up(found), decide(found), result.diagnosis)


def _series(prom: Path) -> dict[str, dict[tuple[str, ...], float]]:
    return {f.name: {tuple(sorted(s.labels.items())): s.value for s in f.samples}
            for f in text_string_to_metric_families(prom.read_text())}


def test_each_selection_keeps_its_own_consistent_series(tmp_path: Path) -> None:
    """A run that selects nothing leaves the P1 selection's tier rows with its verdict."""
    prom = tmp_path / "gate.prom"
    write_metrics_file(prom, [_selected("@p1")])
    write_metrics_file(prom, [_selected("@nosuchtag", scenarios=False)])
    found = _series(prom)
    p1 = (("tags", "@p1"), ("target", "local"))
    assert found["stagecheck_verdict"][(("decision", "NO-GO"), *p1)] == 1
    assert found["stagecheck_revenue_at_risk_dollars"][p1] == 120_000
    assert found["stagecheck_tier_scenarios"][(("outcome", "failed"), *p1, ("tier", "P1"))] == 1
    nothing = (("tags", "@nosuchtag"), ("target", "local"))
    assert found["stagecheck_verdict"][(("decision", "COULD NOT JUDGE"), *nothing)] == 1
    assert found["stagecheck_revenue_at_risk_dollars"][nothing] == 0
    assert not [k for k in found["stagecheck_tier_scenarios"] if ("tags", "@nosuchtag") in k]


def test_metrics_keep_only_the_most_recent_selections(tmp_path: Path) -> None:
    """One new set of series per distinct tag expression, but never more than MAX_SELECTIONS."""
    prom = tmp_path / "gate.prom"
    for number in range(MAX_SELECTIONS + 5):
        write_metrics_file(prom, [_selected(f"@p1 and not @x{number}")])
    found = _series(prom)
    for name in ("stagecheck_verdict", "stagecheck_revenue_at_risk_dollars",
                 "stagecheck_tier_scenarios", "stagecheck_scenarios",
                 "stagecheck_selection_last_run_timestamp_seconds"):
        kept = {dict(labels)["tags"] for labels in found[name]}
        assert kept == {f"@p1 and not @x{n}" for n in range(5, MAX_SELECTIONS + 5)}, name
    runs = found["stagecheck_runs"]  # counted over every run, per target only
    assert runs[(("decision", "NO-GO"), ("target", "local"))] == MAX_SELECTIONS + 5


@pytest.mark.parametrize(("userdata", "says"), [
    ({"notify": "http://hooks.example.com/services/T0/B0/secret"},
     "setting notify refuses plain http:// to http://hooks.example.com, which is not loopback: "
     "use https://"),
    ({"notify": "ftp://hooks.example.com/secret"},
     "setting notify must be https:// URLs of incoming webhooks, not ftp://hooks.example.com…"),
    ({"report_base_url": "reports.example.com"}, "setting report_base_url must be a http:// or "
                                                 "https:// URL with a host, not 'reports.example.com'"),
    ({"metrics_file": "gate.txt"}, "setting metrics_file must end in .prom (the textfile collector "
                                   "reads only those), not 'gate.txt'"),
    ({"service_targets": "qa"}, "setting service_targets names 'qa'; the service can add staging "
                                "and production to the stand-in targets"),
    ({"service_queue": "0"}, "setting service_queue must be 1 or more, not 0"),
    ({"notify_timeout": "0"}, "setting notify_timeout must be a positive number of seconds, not '0'"),
])
def test_pipeline_settings_are_checked_in_one_sentence(userdata: dict, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(userdata, {})
    assert str(raised.value) == says and "secret" not in str(raised.value)


def test_notify_takes_several_webhooks_comma_separated() -> None:
    settings = load_settings({"notify": "https://a.example/x, http://127.0.0.1:9/y",
                              "report_base_url": "https://r.example/gate/"}, {})
    assert settings.notify == ("https://a.example/x", "http://127.0.0.1:9/y")
    assert settings.report_base_url == "https://r.example/gate"
