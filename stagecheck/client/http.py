"""The one HTTP client of the suite: every request is timed, recorded and redacted."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from ..errors import ConnectionReset, SlowAnswer, TargetError
from ..vocabulary import Channel
from .bounded import bounded_client, send_bounded
from .exchanges import ExchangeLog
from .network import named_failure
from .redact import excerpt
from .throttle import throttled, throttles, wait_before_retry


class HttpClient:
    """httpx with the run's timeouts; answers are recorded on the current scenario's log.
    Every exchange ends within its timeout in all, and reads at most MAX_BODY_BYTES decoded."""

    def __init__(self, log: ExchangeLog, timeout: float, connect_timeout: float,
                 verify: bool = True, proxies: bool = True) -> None:
        self.log = log
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._client = bounded_client(verify, proxies)

    def request(self, method: str, url: str, *, json_body: Any = None,
                headers: dict[str, str] | None = None, content: bytes | None = None,
                timeout: float | None = None) -> httpx.Response:
        """Send one request; network failures raise TargetError subclasses naming the URL. An
        answer that throttles is tried again as Retry-After asks, within the same timeout, and
        then raises Throttled."""
        limit = self.timeout if timeout is None else timeout
        sent = json.dumps(json_body) if json_body is not None else (
            content.decode("utf-8", "replace") if content else "")
        shown = self.log.redact(url)
        ends = time.perf_counter() + limit
        tries = 0
        while True:
            tries += 1
            response = self._send_once(method, url, shown, sent, limit if tries == 1 else
                                       ends - time.perf_counter(), json=json_body,
                                       headers=headers, content=content)
            if not throttles(response.status_code, response.headers):
                return response
            wait = wait_before_retry(response.headers, tries, ends - time.perf_counter())
            if wait is None:
                raise throttled(response.status_code, response.headers, f"{method} {shown}", tries)
            time.sleep(wait)

    def _send_once(self, method: str, url: str, shown: str, sent: str, limit: float,
                   **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = send_bounded(self._client, method, url, limit=limit,
                                    connect_timeout=self.connect_timeout, shown=shown, **kwargs)
        except httpx.ConnectError as exc:
            self._record_failure(method, url, started, sent, f"unreachable: {exc}")
            named = named_failure(exc, shown)
            raise type(named)(self.log.redact(str(named))) from None
        except SlowAnswer as exc:
            self._record_failure(method, url, started, sent,
                                 f"no complete answer within {limit:g} s (kept sending slowly)")
            raise SlowAnswer(self.log.redact(str(exc))) from None
        except TargetError as exc:  # a timeout, an oversized body, an encoding not asked for
            self._record_failure(method, url, started, sent, str(exc))
            raise type(exc)(self.log.redact(str(exc))) from None
        except httpx.TransportError as exc:
            self._record_failure(method, url, started, sent, str(exc) or type(exc).__name__)
            if isinstance(named := named_failure(exc, shown), ConnectionReset):
                raise ConnectionReset(self.log.redact(str(named))) from None
            raise TargetError(self.log.redact(
                f"{method} {shown} failed: {exc or type(exc).__name__}")) from None
        elapsed = time.perf_counter() - started
        response.extensions["stagecheck_elapsed_s"] = elapsed
        self.log.record(Channel.HTTP, method, url, response.status_code, elapsed, sent,
                        response.content[:8192].decode("utf-8", "replace"))
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def _record_failure(self, method: str, url: str, started: float, sent: str, error: str) -> None:
        self.log.record(Channel.HTTP, method, url, None, time.perf_counter() - started, sent, "", error)

    def close(self) -> None:
        self._client.close()


def elapsed_s(response: httpx.Response) -> float:
    return float(response.extensions.get("stagecheck_elapsed_s", response.elapsed.total_seconds()))


def describe(response: httpx.Response, log: ExchangeLog, limit: int = 300) -> str:
    """`GET <url> answered 500: <short redacted excerpt>`, for failure messages."""
    body = response.content[: limit * 2].decode("utf-8", "replace")
    return (f"{response.request.method} {log.redact(str(response.request.url))} answered "
            f"{response.status_code}: {excerpt(log.redact(body.strip()), limit) or '(empty body)'}")


def json_body(response: httpx.Response, log: ExchangeLog) -> Any:
    """The JSON body, or an AssertionError saying what came back instead."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AssertionError(f"expected a JSON body, but {describe(response, log)}") from None
