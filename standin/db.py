"""The stand-in's database: engine, Alembic migrations applied through the API, seed data."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from .errors import DatabaseConfigError
from .models import MCPExternalServer

MIGRATIONS = Path(__file__).parent / "migrations"
BASE_REVISION = "9f3c1a2b7d10"
HEAD_REVISION = "66e0e5d9662d"
BUILTIN_SERVER = "platform-registry"


def parse_database_url(url: str) -> URL:
    """Parse and check a database URL, raising DatabaseConfigError with one clear sentence."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        shown = re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)
        raise DatabaseConfigError(f"malformed database URL {shown!r}: expected e.g. "
                                  "sqlite:///path.db or postgresql+psycopg://user@host/db") from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise DatabaseConfigError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite:/// or postgresql+psycopg://") from None
    return parsed


def _unreachable(url: URL) -> URL:
    """A URL of the same dialect that no server answers: what the db-down fault connects to."""
    if url.get_backend_name() == "sqlite":
        return url.set(database=str(Path("/nonexistent-standin-dir") / "down.db"))
    return url.set(host="127.0.0.1", port=1, query={"connect_timeout": "2"})


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        return engine
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    return create_engine(url)


class Database:
    """One database of the stand-in; `down` makes every connection fail, as a lost server would;
    `sessions_broken` makes opening a session fail while the database itself stays intact."""

    def __init__(self, url: str) -> None:
        self.url = parse_database_url(url)
        self.engine = _engine(self.url)
        self._down_engine: Engine | None = None
        self.down = False
        self.sessions_broken = False

    def check_reachable(self) -> None:
        """Connect once, raising DatabaseConfigError naming the database when that fails."""
        try:
            with self.engine.connect():
                pass
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise DatabaseConfigError(
                f"cannot reach database {self.url.render_as_string(hide_password=True)}: {reason}"
            ) from None

    def check_session_factory(self) -> None:
        """Raise what every session of the seed-era backend raised when its factory was broken."""
        if self.sessions_broken:
            # Commit 523a40a34 built the async engine with poolclass=QueuePool; SQLAlchemy refuses
            # that pool for asyncio engines, so every route that opened a session answered 500.
            raise ArgumentError("Pool class QueuePool cannot be used with asyncio engine")

    @contextmanager
    def session(self, commit: bool = True) -> Iterator[Session]:
        """A session committed on success (or, with commit=False, rolled back: the writes are
        flushed and then lost) and rolled back on error."""
        self.check_session_factory()
        if self.down:
            if self._down_engine is None:
                self._down_engine = _engine(_unreachable(self.url))
            engine = self._down_engine
        else:
            engine = self.engine
        with Session(engine, expire_on_commit=False) as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise
            if commit:
                session.commit()
            else:
                session.rollback()

    def _alembic(self, connection: Connection) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url",
                            self.url.render_as_string(hide_password=False).replace("%", "%%"))
        cfg.attributes["connection"] = connection
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision`, upgrading or downgrading through Alembic."""
        with self.engine.begin() as connection:
            cfg = self._alembic(connection)
            current = MigrationContext.configure(connection).get_current_revision()
            script = ScriptDirectory.from_config(cfg)
            found = script.get_revision(revision) if revision != "head" else None
            target = found.revision if found is not None else script.get_current_head() or "base"
            if current == target:
                return
            ancestors = {rev.revision for rev in script.iterate_revisions(target, "base")}
            if current is None or current in ancestors:
                command.upgrade(cfg, target)
            else:
                command.downgrade(cfg, target)

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def seed(self) -> None:
        """Register the built-in agent server, so that discovery has something to find."""
        with self.session() as session:
            exists = session.scalar(
                select(MCPExternalServer.id).where(MCPExternalServer.name == BUILTIN_SERVER))
            if exists is None:
                session.add(MCPExternalServer(
                    id=str(uuid.uuid4()), name=BUILTIN_SERVER, url="builtin://registry",
                    transport="builtin", auth_type="none", status="connected",
                    capabilities={"tools": ["list_agent_servers"], "resources": [], "prompts": []},
                    meta={"description": "The platform's own registry of agent servers",
                          "version": "1.0.0"},
                ))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._down_engine is not None:
            self._down_engine.dispose()
