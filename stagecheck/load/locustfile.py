"""Locust users for the load tier: each signs in through the bypass, opens a live session,
waits for its welcome, then pings (LiveSessionUser) or runs agents (AgentUser) until Locust
stops it. Every step is a Locust request event, so Locust's statistics carry its percentiles.

Run by `stagecheck.load.plan` as `python -m locust -f <this file> …` in its own process (gevent
never meets behave's asyncio); it reads its target and secrets from the environment only:
STAGECHECK_LOAD_AUTH_URL, STAGECHECK_LOAD_WS_URL, E2E_OAUTH_SIMULATION_KEY or
STAGING_TEST_JWT_TOKEN, and the STAGECHECK_LOAD_* timeouts. When Locust quits (its users
stopped, so the sessions held to the end are counted), the master writes its statistics to
STAGECHECK_LOAD_SUMMARY as JSON: Locust's own percentiles, failures and exceptions.
"""

from __future__ import annotations

import itertools
import json
import os
import ssl
import time
from collections.abc import Callable
from typing import Any

import websocket  # websocket-client: plain sockets, so gevent's monkey-patching makes it cooperative
from locust import HttpUser, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from stagecheck.platform.contract import is_welcome

WS = "ws"                       # the request type of the WebSocket events in Locust's statistics
WELCOME, PONG, AGENT_RUN, SESSION = "welcome", "pong", "agent run", "session held"
KEEP_ALIVE = {"ping", "heartbeat", "handshake_validation"}
_numbers = itertools.count(1)
_environments: list[Environment] = []


@events.init.add_listener
def _remember(environment: Environment, **_: Any) -> None:
    _environments.append(environment)


@events.quit.add_listener
def _write_summary(exit_code: int, **_: Any) -> None:
    """Locust's final statistics, as the master (or the only process) has them."""
    target = os.environ.get("STAGECHECK_LOAD_SUMMARY")
    if not target or not _environments or isinstance(_environments[0].runner, WorkerRunner):
        return
    stats = _environments[0].stats
    rows = [{"type": entry.method, "name": entry.name, "count": entry.num_requests,
             "failures": entry.num_failures, "max_ms": entry.max_response_time,
             "per_second": entry.total_rps,
             **{f"p{round(p * 100)}_ms": entry.get_response_time_percentile(p)
                for p in (0.5, 0.95, 0.99)}}
            for entry in stats.entries.values() if entry.num_requests or entry.num_failures]
    errors = [{"name": error.name, "error": str(error.error), "occurrences": error.occurrences}
              for error in stats.errors.values()]
    runner = _environments[0].runner
    exceptions = [{"count": e["count"], "message": e["msg"]}
                  for e in (runner.exceptions.values() if runner else [])]
    with open(target, "w", encoding="utf-8") as out:
        json.dump({"exit_code": exit_code, "stats": rows, "errors": errors,
                   "exceptions": exceptions}, out)


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _seconds(name: str, default: float) -> float:
    return float(_env(name, str(default)))


class Dropped(Exception):
    """The target closed the session."""


class _Session:
    """One live session over websocket-client, with the waits the contract allows."""

    def __init__(self, url: str, token: str, connect_timeout: float, insecure: bool) -> None:
        sslopt = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False} if insecure else {}
        self.opened_at = time.perf_counter()
        self.ws = websocket.create_connection(url, timeout=connect_timeout, sslopt=sslopt,
                                              header=[f"Authorization: Bearer {token}"])

    def send(self, frame: dict[str, Any]) -> None:
        try:
            self.ws.send(json.dumps(frame))
        except (websocket.WebSocketConnectionClosedException, OSError) as exc:
            raise Dropped(f"the target closed the session ({exc})") from None

    def until(self, wanted: Callable[[dict[str, Any]], bool], timeout: float, what: str,
              failed: Callable[[dict[str, Any]], str] = lambda frame: "") -> dict[str, Any]:
        """Frames until `wanted` (keep-alive and other frames passed over); AssertionError on a
        timeout or a frame for which `failed` says why; Dropped when the target closes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout:g} s")
            self.ws.settimeout(left)
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                raise AssertionError(f"no {what} within {timeout:g} s") from None
            except (websocket.WebSocketConnectionClosedException, OSError) as exc:
                raise Dropped(f"the target closed the session while waiting for the {what} "
                              f"({exc or 'closed'})") from None
            if not raw:  # a close frame: recv() answers "" once the server has closed
                raise Dropped(f"the target closed the session while waiting for the {what}")
            try:
                frame = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(frame, dict):
                continue
            if wanted(frame):
                return frame
            problem = failed(frame)
            if problem:
                raise AssertionError(problem)

    def close(self) -> None:
        self.ws.close(timeout=1)


class _GateUser(HttpUser):
    """Signs in through the bypass (or uses the given token) and holds one live session,
    opening it again on its next task if the target closed it."""

    abstract = True
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.auth_url = _env("STAGECHECK_LOAD_AUTH_URL", self.host or "")
        self.ws_url = _env("STAGECHECK_LOAD_WS_URL")
        self.event_timeout = _seconds("STAGECHECK_LOAD_EVENT_TIMEOUT", 15)
        self.agent_timeout = _seconds("STAGECHECK_LOAD_AGENT_TIMEOUT", 60)
        self.connect_timeout = _seconds("STAGECHECK_LOAD_CONNECT_TIMEOUT", 10)
        self.insecure = _env("STAGECHECK_LOAD_INSECURE_TLS") == "true"
        if self.insecure:
            self.client.verify = False
        self.session: _Session | None = None
        self.token = self._sign_in()
        self._open()

    def _sign_in(self) -> str:
        key = _env("E2E_OAUTH_SIMULATION_KEY")
        if not key:
            return _env("STAGING_TEST_JWT_TOKEN")
        email = f"release-gate-load-{_env('STAGECHECK_LOAD_RUN', 'run')}-{os.getpid()}-" \
                f"{next(_numbers)}@e2e.test"
        with self.client.post(f"{self.auth_url}/auth/e2e/test-auth", name="sign in",
                              json={"email": email, "name": "Release Gate Load"},
                              headers={"X-E2E-Bypass-Key": key}, catch_response=True) as answer:
            token = ""
            if answer.status_code == 200:
                try:
                    token = str(answer.json().get("access_token") or "")
                except ValueError:
                    token = ""
            if not token:
                answer.failure(f"the sign-in bypass answered {answer.status_code} without a token")
            return token

    def _event(self, name: str, started: float, problem: str = "") -> None:
        self.environment.events.request.fire(
            request_type=WS, name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=AssertionError(problem) if problem else None,
            context={})

    def _open(self) -> None:
        """A new session, its welcome timed from the start of the handshake."""
        started = time.perf_counter()
        try:
            self.session = _Session(self.ws_url, self.token, self.connect_timeout, self.insecure)
            self.session.until(is_welcome, self.event_timeout, "welcome")
        except websocket.WebSocketBadStatusException as exc:
            self.session = None
            self._event(WELCOME, started, f"handshake refused with {exc.status_code}")
        except (AssertionError, Dropped, OSError, websocket.WebSocketException) as exc:
            self._drop()
            self._event(WELCOME, started, str(exc) or type(exc).__name__)
        else:
            self._event(WELCOME, started)

    def _drop(self, why: str = "") -> None:
        """Forget the session; when the target closed a welcomed one, that is a dropped session."""
        if self.session is None:
            return
        session, self.session = self.session, None
        if why:
            self._event(SESSION, session.opened_at, why)
        session.close()

    def _with_session(self, work: Callable[[_Session], None]) -> None:
        if self.session is None:
            self._open()
        if self.session is None:
            return
        try:
            work(self.session)
        except Dropped as exc:
            self._drop(str(exc))

    def on_stop(self) -> None:
        if self.session is not None:  # held to the end: one sample of how long
            self._event(SESSION, self.session.opened_at)
            self._drop()


class LiveSessionUser(_GateUser):
    """Holds a live session, pinging it now and then."""

    @task
    def ping(self) -> None:
        def ping(session: _Session) -> None:
            started = time.perf_counter()
            session.send({"type": "ping"})
            try:
                session.until(lambda f: f.get("type") == "pong", self.event_timeout, "pong")
            except AssertionError as exc:
                self._event(PONG, started, str(exc))
                return
            except Dropped:
                self._event(PONG, started, "the session closed before its pong")
                raise
            self._event(PONG, started)
        self._with_session(ping)


class AgentUser(_GateUser):
    """Holds a live session and runs an agent in it, again and again."""

    @task
    def run_agent(self) -> None:
        def run(session: _Session) -> None:
            started = time.perf_counter()
            session.send({"type": "start_agent",
                          "payload": {"user_request": "List the available agent servers"}})
            try:
                session.until(lambda f: f.get("type") == "agent_completed", self.agent_timeout,
                              "agent_completed",
                              failed=lambda f: f"the run ended with {f.get('type')}: "
                                               f"{json.dumps(f.get('data'))[:200]}"
                              if f.get("type") in ("agent_error", "error_message") else "")
            except AssertionError as exc:
                self._event(AGENT_RUN, started, str(exc))
                return
            except Dropped:
                self._event(AGENT_RUN, started, "the session closed during the run")
                raise
            self._event(AGENT_RUN, started)
        self._with_session(run)
