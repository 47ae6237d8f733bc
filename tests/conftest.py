"""Shared fixtures: a running stand-in, and a throwaway PostgreSQL server when one is installed."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from standin import Standin, start_standin


def _reports_state(folder: Path) -> dict[str, float]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.lstat().st_mtime for p in folder.rglob("*")}


@pytest.fixture(scope="session", autouse=True)
def users_reports_left_alone() -> Iterator[None]:
    """The test suite never writes into the checkout's own reports/ or history: every test uses
    a temporary report folder. Checked once the session's tests are done."""
    folder = Path(__file__).resolve().parent.parent / "reports"
    before = _reports_state(folder)
    yield
    assert _reports_state(folder) == before, "a test wrote into the user's reports/ folder"


@pytest.fixture
def standin() -> Iterator[Standin]:
    with start_standin() as running:
        yield running


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server: $STAGECHECK_TEST_POSTGRES_URL, or a throwaway cluster."""
    given = os.environ.get("STAGECHECK_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed, and CI must run the PostgreSQL tests")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql) and "
                    "STAGECHECK_TEST_POSTGRES_URL is not set")
    folder = Path(tempfile.mkdtemp(prefix="stagecheck-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-w", "-t", "60", "-l", str(folder / "log"),
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start"], check=True, capture_output=True, timeout=90)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(postgres_server)
    name = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = {"host": server.host, "port": server.port, "user": server.username,
                    "password": server.password or None, "dbname": server.database or "postgres"}
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
