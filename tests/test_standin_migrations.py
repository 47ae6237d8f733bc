"""Alembic migrations: up from empty, one revision short, and back to head."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from standin.db import BASE_REVISION, HEAD_REVISION, Database

MCP_TABLES = {"mcp_external_servers", "mcp_tool_executions", "mcp_resource_access"}
BASE_TABLES = {"users", "threads", "messages"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'm.db'}"


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_reaches_head_with_every_table(database_url: str) -> None:
    database = Database(database_url)
    database.migrate("head")
    assert database.current_revision() == HEAD_REVISION
    assert _tables(database_url) == BASE_TABLES | MCP_TABLES
    database.dispose()


def test_one_revision_short_has_no_mcp_tables(database_url: str) -> None:
    database = Database(database_url)
    database.migrate(BASE_REVISION)
    assert database.current_revision() == BASE_REVISION
    assert _tables(database_url) == BASE_TABLES
    database.dispose()


def test_mcp_table_columns_match_the_contract(database_url: str) -> None:
    database = Database(database_url)
    database.migrate("head")
    engine = create_engine(database_url)
    columns = {c["name"] for c in inspect(engine).get_columns("mcp_external_servers")}
    engine.dispose()
    database.dispose()
    assert columns == {"id", "name", "url", "transport", "auth_type", "credentials",
                       "capabilities", "metadata", "status", "last_health_check", "created_at",
                       "updated_at"}


def test_downgrade_then_upgrade_restores_head_and_seed(database_url: str) -> None:
    database = Database(database_url)
    database.migrate("head")
    database.migrate(BASE_REVISION)
    database.migrate("head")
    database.seed()
    database.seed()  # idempotent
    from standin.discovery import list_servers
    assert [s["name"] for s in list_servers(database)] == ["platform-registry"]
    database.dispose()
