"""Positive controls: a refusal proves something only when the same endpoint, in the same
scenario, serves a valid caller (a signed-in user let into a live session on the same WebSocket
URL; a 2xx on the same route), and an expired token signed with the configured key proves
something only when a fresh token signed with that key is accepted. A control that fails names
the setting to check and leaves the scenario not verified (Classification.CONFIGURATION), never
passed. And before the first scenario on a deployed target (`check_endpoints`), the bypass key
is tried once, and the API and the live sessions are each asked to serve that signed-in user:
a URL where no route of the platform answers, or that refuses everyone alike, is the operator's
setting (one sentence, exit 2), never a product defect in every scenario that uses it; a
platform (its health answering as the platform's, its WebSocket accepting a caller) that
refuses the user its own sign-in just made is left to the scenarios, as the product's."""

from __future__ import annotations

import asyncio

import httpx

from ..client.exchanges import ExchangeLog
from ..client.http import HttpClient, describe
from ..client.nesting import load_json
from ..client.redact import excerpt
from ..config.credentials import BYPASS_KEY, SIGNING_KEY, TOKEN
from ..config.target import Target
from ..errors import CheckFailed, ConfigError
from ..vocabulary import Classification
from .conversations import list_conversations
from .refusals import wait_for_refusal
from .sessions import SessionAttempt, open_session_async
from .users import MAIN_USER_EMAIL, ask_sign_in

WS_SETTING = "-D ws_url / STAGING_WEBSOCKET_URL"
API_SETTING = "-D base_url / STAGING_BASE_URL"
AUTH_SETTING = "-D auth_url / STAGING_AUTH_URL"
# What a route answers a caller it does not serve: not there (404, 405), or not for this
# caller (401, 403). A 5xx is the platform failing, left to the report's reading.
NOT_SERVED = frozenset({401, 403, 404, 405})
NOT_THIS_KEY = frozenset({401, 403})


def _control(log: ExchangeLog, held: bool, message: str, summary: str,
             status: int | None) -> None:
    """One control, counted as a check; when it did not hold, CheckFailed with the message,
    blamed on the operator's settings unless the answer was the platform failing (5xx)."""
    log.checks += 1
    if not held:
        blame = Classification.CONFIGURATION if status is None or status in NOT_SERVED else None
        raise CheckFailed(log.redact(message), log.redact(summary), blame)


def let_in(attempt: SessionAttempt, timeout: float, keep_open: bool = False) -> str:
    """"" when the session let its caller in (served it, or kept it open without an error
    within `timeout`), else how it did not. Unless `keep_open`, the session is closed either
    way, so that it counts against no limit of the platform's."""
    if attempt.session is None:
        return attempt.how()
    try:
        wait_for_refusal(attempt, timeout)
    finally:
        if not keep_open:
            attempt.session.close()
    if attempt.served or (attempt.error is None and attempt.close_code is None):
        return ""
    return attempt.how()


def sessions_serve(attempt: SessionAttempt, ws_url: str, timeout: float, log: ExchangeLog,
                   keep_open: bool = False) -> None:
    """The control of a live-session refusal: a signed-in user's `attempt` on the same URL
    was let in (and its session closed, unless `keep_open`)."""
    problem = let_in(attempt, timeout, keep_open)
    _control(log, not problem,
             f"the WebSocket URL {ws_url} does not serve the platform: a signed-in user was "
             f"refused too ({problem}), so a refusal proves nothing; check {WS_SETTING}",
             "the WebSocket URL (ws_url) lets no signed-in user in: a refusal there proves nothing",
             attempt.refused_status)


def conversations_serve(http: HttpClient, target: Target, token: str) -> httpx.Response:
    """The control of an API refusal: the route the refusals are asked on (the user's
    conversations) answers a signed-in user's token 2xx."""
    response = list_conversations(http, target, token)
    _control(http.log, 200 <= response.status_code < 300,
             f"the API route {target.backend_url}/api/threads does not serve the platform: a "
             f"signed-in user was refused "
             f"too ({describe(response, http.log)}), so a refusal proves nothing; check "
             f"{API_SETTING}",
             "the API (base_url) serves no signed-in user: a refusal there proves nothing",
             response.status_code)
    return response


def _wrong_key(how: str) -> str:
    return (f"the signing key is not the platform's ({SIGNING_KEY}): a fresh token signed with "
            f"it was refused ({how}), so the expired one proves nothing")


def key_accepted_by_api(http: HttpClient, target: Target, fresh: str) -> None:
    """The control of an expired token on the API: a fresh token signed with the same key is
    accepted by the same route."""
    response = list_conversations(http, target, fresh)
    _control(http.log, 200 <= response.status_code < 300,
             _wrong_key(describe(response, http.log)),
             f"{SIGNING_KEY} is not the platform's signing key", response.status_code)


def key_accepted_by_sessions(attempt: SessionAttempt, timeout: float, log: ExchangeLog) -> None:
    """The control of an expired token in live sessions: a fresh token signed with the same
    key is let in on the same URL."""
    problem = let_in(attempt, timeout)
    _control(log, not problem, _wrong_key(problem),
             f"{SIGNING_KEY} is not the platform's signing key", attempt.refused_status)


def check_bypass_key(http: HttpClient, target: Target) -> str:
    """One sign-in before the first scenario, on a deployed target: the operator's bypass key
    refused (401/403) or no sign-in bypass at the auth URL (404/405) is a ConfigError, so that
    a wrong setting is never judged as the platform's defect. Anything else (a 5xx, a
    network failure) is left to the scenarios to judge. From outside, a platform refusing
    every key looks the same as a wrong key: on a deployed target the gate says so in words
    and does not judge; on the embedded stand-in, whose key the gate knows, it never runs.
    The signed-in user's token ("" when there is none)."""
    if not target.bypass_key:
        return ""
    try:
        response = ask_sign_in(http, target, MAIN_USER_EMAIL)
    except AssertionError:  # unreachable, timed out: the scenarios say so, each
        return ""
    status = response.status_code
    if status in NOT_THIS_KEY:
        raise ConfigError(http.log.redact(
            f"the platform refused {BYPASS_KEY} ({status}{_detail(response)}): the key is not "
            f"this platform's (or its sign-in bypass refuses every key); set the key its auth "
            f"service expects"))
    if status in NOT_SERVED:
        raise ConfigError(http.log.redact(
            f"the auth URL {target.auth_url} has no sign-in bypass (POST answered {status}); "
            f"check {AUTH_SETTING}"))
    try:
        body = load_json(response.content)  # nesting bounded: the scenarios judge the shape
    except ValueError:
        return ""
    token = body.get("access_token") if isinstance(body, dict) else None
    return token if isinstance(token, str) else ""


def _serves_health(http: HttpClient, target: Target) -> bool:
    """Whether base_url's /health answers as the platform does: 2xx, a JSON object with a
    status (any status: a platform that says it is unhealthy is still the platform)."""
    try:
        response = http.get(f"{target.backend_url}/health")
        body = load_json(response.content)
    except (AssertionError, ValueError):
        return False
    return 200 <= response.status_code < 300 and isinstance(body, dict) and "status" in body


def _handshake(target: Target, token: str | None, log: ExchangeLog, timeout: float,
               verify_tls: bool) -> int | None:
    """The HTTP status a handshake on ws_url was refused with (None: it was accepted, and its
    session is closed again); AssertionError when it could not be tried (network, throttling)."""
    loop = asyncio.new_event_loop()
    try:
        attempt = loop.run_until_complete(open_session_async(
            target.ws_url, token, log, loop, timeout, verify_tls))
        if attempt.session is not None:
            loop.run_until_complete(attempt.session.close_async())
    finally:
        loop.close()
    return attempt.refused_status


def check_endpoints(http: HttpClient, target: Target, open_timeout: float,
                    verify_tls: bool) -> None:
    """Before the first scenario on a deployed target: the bypass key (`check_bypass_key`),
    then, for its signed-in user (or STAGING_TEST_JWT_TOKEN's), the API's conversations route
    and a live session on ws_url. A ConfigError naming the setting when the URL serves no
    platform: no such route (404, 405), or a refusal (401, 403) where no platform answers (the
    health is not the platform's; an anonymous handshake is refused alike, whereas the platform
    accepts one before it refuses it in a frame). A ready-made token refused by the platform is
    that token's setting. Anything else (the platform refusing the user its own sign-in just
    made, a network failure, a 5xx) is left to the scenarios to judge."""
    signed_in = check_bypass_key(http, target)
    token = signed_in or target.token
    if not token:
        return
    refused_by_platform = ""
    try:
        response = list_conversations(http, target, token)
    except AssertionError:  # unreachable, timed out, throttled: the scenarios say so
        response = None
    if response is not None and response.status_code in NOT_SERVED:
        if response.status_code not in NOT_THIS_KEY or not _serves_health(http, target):
            raise ConfigError(http.log.redact(
                f"the API at {target.backend_url} does not serve the platform's signed-in users: "
                f"{describe(response, http.log)}; check {API_SETTING} (and that {AUTH_SETTING} "
                f"signs in users of the same platform)"))
        refused_by_platform = describe(response, http.log)
    _ready_made_token_refused(http, refused_by_platform, signed_in)
    try:
        status = _handshake(target, token, http.log, open_timeout, verify_tls)
        if status in NOT_SERVED and _handshake(target, None, http.log, open_timeout,
                                               verify_tls) is not None:
            raise ConfigError(http.log.redact(
                f"the WebSocket URL {target.ws_url} refuses a signed-in user's handshake "
                f"({status}) and an anonymous one alike: it does not serve the platform's live "
                f"sessions (check {WS_SETTING}), or the platform refuses every caller at the "
                "handshake; nothing is judged"))
        if status in NOT_THIS_KEY:
            refused_by_platform = refused_by_platform or f"the live sessions answered {status}"
    except AssertionError:  # unreachable, timed out, throttled: the scenarios say so
        pass
    _ready_made_token_refused(http, refused_by_platform, signed_in)


def _ready_made_token_refused(http: HttpClient, how: str, signed_in: str) -> None:
    """A platform that refuses STAGING_TEST_JWT_TOKEN (`how`, "" when it did not): the token is
    the operator's setting. One its own sign-in just issued is left to the scenarios."""
    if how and not signed_in:
        raise ConfigError(http.log.redact(
            f"the platform refused {TOKEN} ({how}): the token is not this platform's; get one "
            f"from its auth service, or set {BYPASS_KEY}"))


def _detail(response: httpx.Response) -> str:
    """`, '<the platform's detail>'` when its answer gives one, else ""."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return ""
    return f", {excerpt(str(detail), 80)!r}" if isinstance(detail, str) and detail else ""
