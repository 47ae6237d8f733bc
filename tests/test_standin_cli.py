"""`python -m standin`: faults listed, bad input refused in one sentence, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from standin import FAULTS, VARIANTS


def _run(*args: str, tmp_path=None, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmp_path)} if tmp_path else None
    return subprocess.run([sys.executable, "-m", "standin", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_list_faults_names_each_fault_with_its_clause() -> None:
    result = _run("--list-faults")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(FAULTS)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


def test_unknown_fault_exits_2_listing_known_ones(tmp_path) -> None:
    result = _run("--fault", "no-such-fault", "--port", "0", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "unknown fault 'no-such-fault'" in result.stderr and "health-down" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_list_variants_names_each_variant_with_its_description() -> None:
    result = _run("--list-variants")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(VARIANTS)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


def test_a_listing_read_only_in_part_ends_quietly() -> None:
    """`python -m standin --list-variants | head -1`: the reader is gone, no traceback (both
    listings go through one function)."""
    read, write = os.pipe()
    os.close(read)  # the reader has stopped before the first line: every write meets a broken pipe
    try:
        result = subprocess.run([sys.executable, "-m", "standin", "--list-variants"], stdout=write,
                                stderr=subprocess.PIPE, text=True, timeout=30)
    finally:
        os.close(write)
    assert result.stderr == "" and result.returncode == 0


def test_unknown_variant_exits_2_listing_known_ones(tmp_path) -> None:
    result = _run("--variant", "beta-99", "--port", "0", tmp_path=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown variant 'beta-99'" in result.stderr
    assert all(name in result.stderr for name in VARIANTS)
    assert list(tmp_path.iterdir()) == []


def test_incompatible_fault_and_variant_exit_2_in_one_line(tmp_path) -> None:
    result = _run("--variant", "handshake-403", "--fault", "refusal-without-close", "--port", "0",
                  tmp_path=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusal-without-close" in lines[0] and "handshake-403" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_variant_is_served_and_reported() -> None:
    env = {**os.environ, "E2E_OAUTH_SIMULATION_KEY": "variant-key-123"}
    proc = subprocess.Popen([sys.executable, "-m", "standin", "--port", "0", "--variant", "beta-17"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().split()[1]
        assert httpx.get(f"{base}/health", timeout=5).json() == {"status": "ok"}
        state = httpx.get(f"{base}/_standin/state", timeout=5,
                          headers={"X-E2E-Bypass-Key": "variant-key-123"}).json()
        assert state["variant"] == "beta-17"
    finally:
        proc.terminate()
        proc.wait(15)


def test_port_in_use_exits_2_in_one_sentence(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("--port", str(port), tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"standin: port {port} on 127.0.0.1 is already in use"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("url", "words"), [
    ("not a url", "malformed database URL"),
    ("mysql+nosuchdriver://x/y", "unsupported database URL scheme"),
    ("postgresql+psycopg://u:hunter2@127.0.0.1:1/db", "cannot reach database"),
])
def test_bad_database_url_exits_2_in_one_line(tmp_path, url: str, words: str) -> None:
    result = _run("--port", "0", "--database-url", url, tmp_path=tmp_path)
    assert result.returncode == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_cleanly_on_signal(sig: int) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "standin", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        words = line.split()
        assert words[0::2] == ["backend", "auth", "websocket"], line
        assert httpx.get(f"{words[1]}/health", timeout=5).json()["status"] == "healthy"
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait()


def test_faults_and_version_change_at_run_time_over_http() -> None:
    env = {**os.environ, "E2E_OAUTH_SIMULATION_KEY": "control-key-123"}
    proc = subprocess.Popen([sys.executable, "-m", "standin", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().split()[1]
        key = {"X-E2E-Bypass-Key": "control-key-123"}
        assert httpx.post(f"{base}/_standin/state", json={"faults": []}).status_code == 401
        changed = httpx.post(f"{base}/_standin/state", headers=key, timeout=10,
                             json={"faults": ["missing-mcp-tables"], "version": "2.0.0"})
        assert changed.json() == {"faults": ["missing-mcp-tables"], "version": "2.0.0",
                                  "variant": "default"}
        assert httpx.get(f"{base}/api/mcp/servers", timeout=5).status_code == 500
        assert httpx.get(f"{base}/health", timeout=5).json()["version"] == "2.0.0"
        unknown = httpx.post(f"{base}/_standin/state", headers=key, json={"faults": ["nope"]})
        assert unknown.status_code == 422 and "unknown fault 'nope'" in unknown.json()["detail"]
        healed = httpx.post(f"{base}/_standin/state", headers=key, json={"faults": []}, timeout=10)
        assert healed.json()["faults"] == []
        assert httpx.get(f"{base}/api/mcp/servers", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(15)
