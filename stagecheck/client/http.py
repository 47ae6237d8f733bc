"""The one HTTP client of the suite: every request is timed, recorded and redacted."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from ..errors import CheckFailed, ConnectionReset, SlowAnswer, TargetError
from ..vocabulary import Channel, Classification
from .bounded import bounded_client, send_bounded
from .exchanges import ExchangeLog
from .nesting import NestedTooDeeply, load_json
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
    return (f"{_request(response, log)} answered {response.status_code}: "
            f"{_excerpt(response, log, limit)}")


def _request(response: httpx.Response, log: ExchangeLog) -> str:
    return f"{response.request.method} {log.redact(str(response.request.url))}"


def _excerpt(response: httpx.Response, log: ExchangeLog, limit: int) -> str:
    """The body's first `limit` characters, redacted, and how much of the body is left out."""
    text = log.redact(response.content[: limit * 2].decode("utf-8", "replace").strip())
    if len(response.content) > limit * 2:  # only its start was decoded: say how long it is
        return f"{text[:limit]}… [{len(response.content)} bytes in all]"
    return excerpt(text, limit) or "(empty body)"


def answered_html_page(response: httpx.Response) -> bool:
    """A successful answer that is an HTML page where the platform answers JSON: a captive
    portal, a proxy's or a load balancer's page, or a URL that is not the platform's."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return response.is_success and (kind == "text/html" or response.content.lstrip()[:1] == b"<")


def json_body(response: httpx.Response, log: ExchangeLog) -> Any:
    """The JSON body, or an AssertionError saying what came back instead; JSON nested deeper
    than the contract ever nests is the product's defect (CheckFailed), never parsed; an HTML
    page where the platform answers JSON blames the environment (CheckFailed)."""
    if answered_html_page(response):
        raise CheckFailed(
            f"expected the platform's JSON, but {describe(response, log)}: an HTML page "
            "answered in the platform's place (a captive portal, a proxy, or a base_url that "
            "is not the platform's)", "an HTML page answered, not the platform",
            Classification.ENVIRONMENT)
    try:
        return load_json(response.content)
    except NestedTooDeeply as exc:
        raise CheckFailed(
            f"the answer to {_request(response, log)} ({response.status_code}) is {exc}, "
            f"deeper than the contract ever nests, and was not read: "
            f"{_excerpt(response, log, 200)}",
            f"{response.request.method} {response.request.url.path} answers JSON {exc}",
            Classification.PRODUCT) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AssertionError(f"expected a JSON body, but {describe(response, log)}") from None
