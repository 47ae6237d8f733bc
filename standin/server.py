"""Starting the stand-in: in the background for the suite and the tests, or in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn

from .app import DEFAULT_VERSION, StandinState, create_app
from .auth import TokenService
from .db import BASE_REVISION, HEAD_REVISION, Database
from .errors import StartError
from .faults import FaultSwitch
from .limits import exposure_warning
from .variants import DEFAULT_VARIANT, Variant, check_combination, get_variant

START_TIMEOUT_S = 10.0
DEFAULT_BACKLOG = 2048  # connections waiting to be accepted; more for many at once
MIGRATION_REVISIONS = (BASE_REVISION, HEAD_REVISION)


@dataclass(frozen=True)
class StandinURLs:
    backend_url: str
    auth_url: str
    ws_url: str

    def line(self) -> str:
        return f"backend {self.backend_url}  auth {self.auth_url}  websocket {self.ws_url}"


@dataclass
class Standin:
    """A running stand-in: where it listens, its secrets, and its switches."""

    urls: StandinURLs
    bypass_key: str
    database_url: str
    state: StandinState

    def set_faults(self, names: Iterable[str]) -> None:
        self.state.set_faults(names)

    def set_version(self, version: str) -> None:
        self.state.version = version

    @property
    def signing_key(self) -> str:
        """The key its tokens are signed with (a gate on the stand-in signs expired tokens)."""
        return self.state.tokens.secret

    @property
    def migration_revisions(self) -> tuple[str, ...]:
        """The Alembic revisions from base to head, in order."""
        return MIGRATION_REVISIONS

    @property
    def faults(self) -> frozenset[str]:
        return self.state.faults.active

    @property
    def variant(self) -> Variant:
        """The shapes this stand-in plays (fixed for its lifetime)."""
        return self.state.variant


class _Server(uvicorn.Server):
    """Uvicorn, stopping on SIGINT/SIGTERM and then returning normally rather than re-raising;
    stopped from another thread at once, without waiting on idle connections."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    def stop(self) -> None:
        """Ask the server to stop, from any thread; its main loop wakes at once."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already ended
                loop.call_soon_threadsafe(wake.set)

    async def main_loop(self) -> None:
        """uvicorn's ticks (the date header once a second), but woken by `stop` at once
        rather than at the next tenth of a second."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Idle keep-alive connections close at once; only when a connection or a task is
        still busy after that does uvicorn's graceful wait (and its fixed 0.1 s) apply."""
        for server in self.servers:
            server.close()
        standin = getattr(getattr(self.config.app, "state", None), "standin", None)
        if standin is not None:
            standin.stopping.set()  # held answers (fault hang) end now, not cancelled later
        for connection in list(self.server_state.connections):
            connection.shutdown()
        await asyncio.sleep(0)  # let the idle ones close
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)
            return
        for server in self.servers:
            await server.wait_closed()


def _bind(host: str, port: int, backlog: int = DEFAULT_BACKLOG) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Naming IPPROTO_TCP lets asyncio recognise the socket as TCP and set TCP_NODELAY on every
    # accepted connection; without it each HTTP answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartError(f"port {port} on {host} is already in use") from None
        raise StartError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(backlog)  # the kernel caps it at net.core.somaxconn
    sock.setblocking(False)
    return sock


def _urls(sock: socket.socket, tls: bool) -> StandinURLs:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    secure = "s" if tls else ""
    base = f"http{secure}://{shown}:{port}"
    return StandinURLs(backend_url=base, auth_url=base, ws_url=f"ws{secure}://{shown}:{port}/ws")


@contextlib.contextmanager
def _prepared(faults: Iterable[str], database_url: str | None, host: str, port: int,
              version: str, tls: tuple[str, str] | None, variant: str,
              backlog: int = DEFAULT_BACKLOG) -> Iterator[tuple[Standin, _Server, socket.socket]]:
    """Check the inputs, then bind, migrate and build the app; undo all of it on the way out."""
    active = frozenset(faults)
    check_combination(variant, active)
    with contextlib.ExitStack() as stack:
        if database_url is None:
            folder = tempfile.mkdtemp(prefix="standin-")
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
            database_url = f"sqlite:///{Path(folder) / 'standin.db'}"
        database = Database(database_url)
        stack.callback(database.dispose)
        sock = _bind(host, port, backlog)
        stack.callback(sock.close)
        database.check_reachable()
        state = StandinState(
            database=database,
            tokens=TokenService(os.environ.get("STANDIN_JWT_SECRET") or secrets.token_hex(32)),
            bypass_key=os.environ.get("E2E_OAUTH_SIMULATION_KEY") or secrets.token_urlsafe(24),
            faults=FaultSwitch(active), variant=get_variant(variant), version=version)
        state.prepare_database()
        cert, key = tls if tls else (None, None)
        config = uvicorn.Config(create_app(state), log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=2, ws_max_size=1024 * 1024,
                                ssl_certfile=cert, ssl_keyfile=key)
        server = _Server(config)
        handle = Standin(urls=_urls(sock, tls is not None), bypass_key=state.bypass_key,
                         database_url=database_url, state=state)
        yield handle, server, sock


@contextlib.contextmanager
def start_standin(faults: Iterable[str] = (), database_url: str | None = None,
                  host: str = "127.0.0.1", port: int = 0, version: str = DEFAULT_VERSION,
                  tls: tuple[str, str] | None = None,
                  variant: str = DEFAULT_VARIANT,
                  backlog: int = DEFAULT_BACKLOG) -> Iterator[Standin]:
    """Run the stand-in in a background thread (ephemeral loopback port by default);
    `tls` is (certificate file, key file) to serve https:// and wss://; `variant` names one of
    VARIANTS; `backlog` is how many connections may wait to be accepted (at least the default).
    Raises a StandinError (unknown or incompatible names among them) before starting."""
    with _prepared(faults, database_url, host, port, version, tls, variant,
                   max(backlog, DEFAULT_BACKLOG)) as (
            handle, server, sock):
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                  name="standin", daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.stop()
                thread.join(START_TIMEOUT_S)
                raise StartError(f"the stand-in did not start within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.005)
        try:
            yield handle
        finally:
            server.stop()
            thread.join(START_TIMEOUT_S)


def serve(faults: Iterable[str] = (), database_url: str | None = None,
          host: str = "127.0.0.1", port: int = 8000, version: str = DEFAULT_VERSION,
          tls: tuple[str, str] | None = None,
          announce: Callable[[str], object] = print,
          variant: str = DEFAULT_VARIANT, backlog: int = DEFAULT_BACKLOG) -> None:
    """Run the stand-in in the foreground until SIGINT or SIGTERM."""
    with _prepared(faults, database_url, host, port, version, tls, variant,
                   max(backlog, DEFAULT_BACKLOG)) as (
            handle, server, sock):
        announce(handle.urls.line())
        if warning := exposure_warning(host):
            announce(warning)
        server.run(sockets=[sock])
