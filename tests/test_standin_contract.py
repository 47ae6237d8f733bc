"""The stand-in with no fault keeps the platform contract in every variant (on SQLite, and on
PostgreSQL for the default variant), and plays each variant's own shapes."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import jwt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from standin import VARIANTS, start_standin
from tests.contract_probe import (
    CLAUSES,
    Probe,
    bearer,
    broken_clauses,
    is_welcome,
    recv_json,
    recv_until,
    sign_in,
)

BACKENDS = [pytest.param(("default", "postgresql"), id="default-postgresql")] + [
    pytest.param((name, "sqlite"), id=f"{name}-sqlite") for name in VARIANTS]


@pytest.fixture(params=BACKENDS)
def any_backend(request):
    variant, backend = request.param
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    with start_standin(database_url=url, variant=variant) as running:
        yield running


@pytest.fixture(params=list(VARIANTS))
def each_variant(request):
    with start_standin(variant=request.param) as running:
        yield running


def _variant(name: str):
    return start_standin(variant=name)


def _b64(token: str) -> str:
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


async def _frames_until_closed(url: str, limit_s: float = 3.0, **kwargs) -> tuple[list[dict], int | None]:
    """Every frame of a session until the server closes it (or limit_s passes), and the close code."""
    frames: list[dict] = []
    try:
        async with websockets.connect(url, open_timeout=3, **kwargs) as ws:
            deadline = time.monotonic() + limit_s
            while True:
                frames.append(await recv_json(ws, max(0.0, deadline - time.monotonic())))
    except ConnectionClosed as exc:
        return frames, exc.rcvd.code if exc.rcvd else None
    except TimeoutError:
        return frames, None


def test_every_clause_holds(any_backend) -> None:
    assert CLAUSES and broken_clauses(any_backend) == set()


def test_api_health_really_queries_the_database(any_backend) -> None:
    body = httpx.get(f"{any_backend.urls.backend_url}/api/health", timeout=5).json()
    check = body["checks"]["postgresql"]
    assert body["status"] == "healthy" and check["connected"] is True
    assert check["dialect"] == any_backend.database_url.split(":")[0].split("+")[0]
    assert check["response_time_ms"] >= 0


def test_handle_and_control_endpoint_report_the_variant(each_variant) -> None:
    answer = httpx.get(f"{each_variant.urls.backend_url}/_standin/state", timeout=5,
                       headers={"X-E2E-Bypass-Key": each_variant.bypass_key})
    assert answer.json()["variant"] == each_variant.variant.name


# --- refusal, per variant ---------------------------------------------------------------------

@pytest.mark.parametrize(("variant", "close_code"), [("default", 1008), ("close-1011", 1011),
                                                     ("beta-17", 1008)])
@pytest.mark.parametrize(("token", "code"), [(None, "NO_TOKEN"), ("garbage", "VALIDATION_FAILED")])
def test_refusal_is_an_error_frame_then_a_close(variant, close_code, token, code) -> None:
    with _variant(variant) as running:
        kwargs = {"additional_headers": bearer(token)} if token else {}
        started = time.monotonic()
        frames, closed_with = asyncio.run(_frames_until_closed(running.urls.ws_url, **kwargs))
        elapsed = time.monotonic() - started
    assert [f["type"] for f in frames] == ["error_message"]
    assert frames[0]["code"] == code and frames[0]["message"] and frames[0]["timestamp"]
    assert closed_with == close_code and elapsed < 2


def test_handshake_403_variant_refuses_before_accept() -> None:
    with _variant("handshake-403") as running, pytest.raises(InvalidStatus) as refused:
        asyncio.run(_frames_until_closed(running.urls.ws_url))
    assert refused.value.response.status_code == 403


def test_refusal_without_close_keeps_answering_anonymously() -> None:
    with start_standin(faults=["refusal-without-close"]) as running:
        async def run() -> tuple[dict, dict]:
            async with websockets.connect(running.urls.ws_url, open_timeout=3) as ws:
                error = await recv_json(ws, 3)
                await ws.send(json.dumps({"type": "ping"}))
                return error, await recv_until(ws, lambda f: f["type"] == "pong", 3)
        error, pong = asyncio.run(run())
    assert error["code"] == "NO_TOKEN" and pong["type"] == "pong"


# --- welcome and keep-alive -------------------------------------------------------------------

@pytest.mark.parametrize(("variant", "first_types", "keepalive"), [
    ("default", ["handshake_validation", "system_message", "ping"], "ping"),
    ("close-1011", ["handshake_validation", "system_message", "ping"], "ping"),
    ("handshake-403", ["system_message", "ping"], "ping"),
    ("beta-17", ["handshake_validation", "connection_established", "heartbeat"], "heartbeat"),
])
def test_session_opens_with_the_variants_frames_and_keeps_alive(variant, first_types,
                                                                keepalive) -> None:
    with _variant(variant) as running:
        running.state.keepalive_interval_s = 0.3
        token = sign_in(running)

        async def run() -> list[dict]:
            async with websockets.connect(running.urls.ws_url, open_timeout=3,
                                          additional_headers=bearer(token)) as ws:
                return [await recv_json(ws, 2) for _ in range(len(first_types) + 2)]
        frames = asyncio.run(run())
    assert [f["type"] for f in frames] == [*first_types, keepalive, keepalive]
    welcome = next(f for f in frames if is_welcome(f))
    data = welcome["data"]
    assert data["event"] == "connection_established" and data["connection_ready"] is True
    assert data["user_id"] == jwt.decode(token, options={"verify_signature": False})["sub"]
    assert {"connection_id", "server_time", "config"} <= set(data)
    assert isinstance(welcome["timestamp"], float)
    if first_types[0] == "handshake_validation":
        assert frames[0]["validation_id"].startswith("test_")


def test_client_ping_gets_a_pong_with_timestamps(standin) -> None:
    token = sign_in(standin)

    async def run() -> dict:
        async with websockets.connect(standin.urls.ws_url, open_timeout=3,
                                      additional_headers=bearer(token)) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            return await recv_until(ws, lambda f: f["type"] == "pong", 3)
    pong = asyncio.run(run())
    assert isinstance(pong["data"]["timestamp"], float) and isinstance(pong["timestamp"], float)


# --- token transports -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["header", "subprotocol-b64", "subprotocol-b64-with-jwt-auth",
                                 "query"])
def test_default_accepts_each_token_transport(standin, how: str) -> None:
    token = sign_in(standin)
    url, kwargs = standin.urls.ws_url, {}
    if how == "header":
        kwargs["additional_headers"] = bearer(token)
    elif how == "subprotocol-b64":
        kwargs["subprotocols"] = [f"jwt.{_b64(token)}"]
    elif how == "subprotocol-b64-with-jwt-auth":
        kwargs["subprotocols"] = ["jwt-auth", f"jwt.{_b64(token)}"]
    else:
        url += f"?token={token}"

    async def run() -> tuple[dict, str | None]:
        async with websockets.connect(url, open_timeout=3, **kwargs) as ws:
            return await recv_until(ws, is_welcome, 3), ws.subprotocol

    welcome, subprotocol = asyncio.run(run())
    assert welcome["data"]["connection_ready"] is True
    assert subprotocol == ("jwt-auth" if how.endswith("jwt-auth") else None)


def test_default_refuses_the_raw_jwt_subprotocol(standin) -> None:
    token = sign_in(standin)
    frames, closed_with = asyncio.run(_frames_until_closed(
        standin.urls.ws_url, subprotocols=[f"jwt.{token}"]))
    assert [f["type"] for f in frames] == ["error_message"]
    assert frames[0]["code"] == "VALIDATION_FAILED" and closed_with == 1008


@pytest.mark.parametrize("encoding", ["raw", "b64"])
def test_beta_17_accepts_raw_and_base64url_jwt_subprotocols(encoding: str) -> None:
    with _variant("beta-17") as running:
        token = sign_in(running)
        offered = token if encoding == "raw" else _b64(token)

        async def run() -> dict:
            async with websockets.connect(running.urls.ws_url, open_timeout=3,
                                          subprotocols=[f"jwt.{offered}"]) as ws:
                return await recv_until(ws, is_welcome, 3)
        assert asyncio.run(run())["type"] == "connection_established"


# --- frames within a session ------------------------------------------------------------------

def _answer_to(running, frame: str | bytes) -> tuple[dict, dict]:
    token = sign_in(running)

    async def run() -> tuple[dict, dict]:
        async with websockets.connect(running.urls.ws_url, open_timeout=3,
                                      additional_headers=bearer(token)) as ws:
            await recv_until(ws, is_welcome, 3)
            await ws.send(frame)
            answer = await _next(ws)
            await ws.send(json.dumps({"type": "ping"}))
            return answer, await recv_until(ws, lambda f: f["type"] == "pong", 3)
    return asyncio.run(run())


async def _next(ws) -> dict:
    """The next frame that is not a keep-alive."""
    while (frame := await recv_json(ws, 3))["type"] in ("ping", "heartbeat"):
        pass
    return frame


@pytest.mark.parametrize(("variant", "key", "code"), [
    ("default", "error_code", "FORMAT_ERROR"), ("beta-17", "code", "JSON_PARSE_ERROR")])
@pytest.mark.parametrize("frame", ["{truncated", b"\xff\xfe not utf-8"])
def test_invalid_json_is_answered_in_the_variants_shape(variant, key, code, frame) -> None:
    with _variant(variant) as running:
        answer, pong = _answer_to(running, frame)
    assert answer["type"] == "error_message" and answer[key] == code
    assert pong["type"] == "pong"


@pytest.mark.parametrize(("frame", "answer_type", "code"), [
    ("[1, 2, 3]", "error_message", "INVALID_MESSAGE"),
    ('{"type": "user_message", "payload": {}}', "error_message", "INVALID_MESSAGE"),
    ('{"type": "start_agent", "payload": {}}', "error_message", "INVALID_MESSAGE"),
    ('{"type": "something_new"}', "ack", None),
    ("x" * 70_000, "error_message", "MESSAGE_TOO_LARGE"),
])
def test_malformed_frames_get_error_answers_and_session_lives(standin, frame, answer_type,
                                                              code) -> None:
    answer, pong = _answer_to(standin, frame)
    assert answer["type"] == answer_type and answer.get("code") == code
    if answer_type == "ack":
        assert answer["received_type"] == "something_new"
        assert answer["status"] == "acknowledged"
    assert pong["type"] == "pong"


@pytest.mark.parametrize("kind", ["user_message", "message", "chat_message"])
def test_user_message_is_acknowledged_as_system_message_and_stored(standin, kind) -> None:
    token = sign_in(standin)
    thread_id = httpx.post(f"{standin.urls.backend_url}/api/threads", json={"title": "t"},
                           headers=bearer(token), timeout=5).json()["id"]
    frame = json.dumps({"type": kind, "payload": {"content": "hello", "thread_id": thread_id}})
    answer, _ = _answer_to(standin, frame)
    assert answer["type"] == "system_message"
    assert answer["data"]["content"] == "Message received"
    assert answer["data"]["status"] == "acknowledged"
    listed = httpx.get(f"{standin.urls.backend_url}/api/threads/{thread_id}/messages",
                       headers=bearer(token), timeout=5).json()
    assert [m["content"] for m in listed] == ["hello"]


def test_handshake_403_variant_acknowledges_with_a_generic_ack() -> None:
    with _variant("handshake-403") as running:
        answer, _ = _answer_to(running, json.dumps({"type": "user_message",
                                                     "payload": {"content": "hi"}}))
    assert answer["type"] == "ack" and answer["received_type"] == "user_message"
    assert answer["status"] == "acknowledged"


@pytest.mark.parametrize(("fault", "expected"), [
    ("message-handler-error", "HANDLER_ERROR"), ("messages-not-stored", None)])
def test_message_faults_answer_as_named(fault, expected) -> None:
    with start_standin(faults=[fault]) as running:
        token = sign_in(running)
        thread_id = httpx.post(f"{running.urls.backend_url}/api/threads", json={"title": "t"},
                               headers=bearer(token), timeout=5).json()["id"]
        answer, _ = _answer_to(running, json.dumps({
            "type": "user_message", "payload": {"content": "lost", "thread_id": thread_id}}))
        listed = httpx.get(f"{running.urls.backend_url}/api/threads/{thread_id}/messages",
                           headers=bearer(token), timeout=5).json()
    if expected:
        assert answer["type"] == "error_message" and answer["code"] == expected
    else:
        assert answer["data"]["status"] == "acknowledged"
    assert listed == []


def test_silent_agent_run_sends_nothing_and_the_session_still_answers() -> None:
    with start_standin(faults=["agent-silent-failure"]) as running:
        token = sign_in(running)

        async def run() -> list[dict]:
            async with websockets.connect(running.urls.ws_url, open_timeout=3,
                                          additional_headers=bearer(token)) as ws:
                await recv_until(ws, is_welcome, 3)
                await ws.send(json.dumps({"type": "start_agent",
                                          "payload": {"user_request": "hi"}}))
                await asyncio.sleep(0.5)
                await ws.send(json.dumps({"type": "ping"}))
                seen = []
                while (frame := await recv_json(ws, 3))["type"] != "pong":
                    seen.append(frame)
                return seen
        seen = asyncio.run(run())
    assert [f for f in seen if f["type"].startswith(("agent_", "tool_"))] == []


def test_agent_run_records_its_tool_call(standin) -> None:
    Probe(standin).agent_run()
    from sqlalchemy import create_engine, text
    engine = create_engine(standin.database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT tool_name, status FROM mcp_tool_executions")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [("list_agent_servers", "success")]


# --- HTTP shapes ------------------------------------------------------------------------------

@pytest.mark.parametrize(("variant", "status"), [("default", 200), ("handshake-403", 201)])
def test_thread_creation_answers_the_variants_status_with_epoch_created_at(variant,
                                                                          status) -> None:
    with _variant(variant) as running:
        created = httpx.post(f"{running.urls.backend_url}/api/threads", json={"title": "t"},
                             headers=bearer(sign_in(running)), timeout=5)
    assert created.status_code == status
    body = created.json()
    assert {"id", "title"} <= set(body) and isinstance(body["created_at"], int)
    assert abs(body["created_at"] - time.time()) < 60


def test_threads_list_only_the_callers_own(standin) -> None:
    mine, theirs = sign_in(standin, "me@example.com"), sign_in(standin, "them@example.com")
    with httpx.Client(base_url=standin.urls.backend_url, timeout=5) as http:
        created = http.post("/api/threads", json={"title": "mine"}, headers=bearer(mine))
        http.post("/api/threads", json={"title": "theirs"}, headers=bearer(theirs))
        listed = http.get("/api/threads", headers=bearer(mine)).json()
        assert created.status_code == 200
        assert [t["title"] for t in listed] == ["mine"]
        assert http.get("/api/threads").status_code == 401
        assert http.post("/api/threads", content=b"{", headers=bearer(mine)).status_code == 422


def test_threads_not_persisted_answers_an_id_but_stores_nothing() -> None:
    with start_standin(faults=["threads-not-persisted"]) as running:
        token = sign_in(running)
        with httpx.Client(base_url=running.urls.backend_url, timeout=5) as http:
            created = http.post("/api/threads", json={"title": "gone"}, headers=bearer(token))
            assert created.status_code == 200 and created.json()["id"]
            assert http.get("/api/threads", headers=bearer(token)).json() == []
            missing = http.get(f"/api/threads/{created.json()['id']}/messages",
                               headers=bearer(token))
            assert missing.status_code == 404 and "detail" in missing.json()


@pytest.mark.parametrize(("variant", "envelope"), [
    ("default", {"data", "status"}), ("handshake-403", {"servers"})])
def test_discovery_answers_in_the_variants_envelope(variant, envelope) -> None:
    with _variant(variant) as running:
        body = httpx.get(f"{running.urls.backend_url}/api/mcp/servers", timeout=5).json()
    assert set(body) == envelope
    if "status" in body:
        assert body["status"] == "success"


@pytest.mark.parametrize(("variant", "body"), [
    ("default", {"status", "service", "version", "timestamp"}), ("beta-17", {"status"})])
def test_health_answers_in_the_variants_shape(variant, body) -> None:
    with _variant(variant) as running:
        answer = httpx.get(f"{running.urls.backend_url}/health", timeout=5).json()
    assert set(answer) == body
    assert answer["status"] == ("ok" if body == {"status"} else "healthy")


# --- tokens -----------------------------------------------------------------------------------

def test_token_carries_the_contract_claims(standin) -> None:
    answer = httpx.post(f"{standin.urls.auth_url}/auth/e2e/test-auth", timeout=5,
                        headers={"X-E2E-Bypass-Key": standin.bypass_key}).json()
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["iss"] == "netra-auth-service" and claims["aud"] == "netra-platform"
    assert claims["type"] == "access" and claims["token_type"] == "access"
    assert claims["exp"] - claims["iat"] == 1800 and answer["expires_in"] == 900
    assert {"sub", "email", "permissions", "jti"} <= set(claims)
    refresh = jwt.decode(answer["refresh_token"], options={"verify_signature": False})
    assert refresh["token_type"] == "refresh" and refresh["type"] == "refresh"


def _claims(**changes) -> dict:
    now = int(time.time())
    claims = {"sub": "u-1", "email": "u@example.com", "permissions": [], "iat": now,
              "exp": now + 600, "token_type": "access", "type": "access",
              "iss": "netra-auth-service", "aud": "netra-platform", "jti": "j-1"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(("changes", "valid"), [
    ({}, True),
    ({"aud": None}, True),
    ({"aud": "another-platform"}, False),
    ({"token_type": None}, False),
    ({"iat": None}, False),
    ({"token_type": "refresh", "type": "refresh"}, False),
    ({"exp": int(time.time()) - 60}, False),
])
def test_access_token_validation_follows_the_auth_service(standin, changes, valid) -> None:
    token = standin.state.tokens.sign(_claims(**changes))
    answer = httpx.post(f"{standin.urls.auth_url}/auth/validate", json={"token": token},
                        timeout=5).json()
    assert answer["valid"] is valid

    async def run() -> bool:
        async with websockets.connect(standin.urls.ws_url, open_timeout=3,
                                      additional_headers=bearer(token)) as ws:
            frame = await recv_until(ws, lambda f: is_welcome(f) or f["type"] == "error_message", 3)
            return is_welcome(frame)
    assert asyncio.run(run()) is valid


def test_refresh_token_is_not_an_access_token(standin) -> None:
    refresh = httpx.post(f"{standin.urls.auth_url}/auth/e2e/test-auth", timeout=5,
                         headers={"X-E2E-Bypass-Key": standin.bypass_key}).json()["refresh_token"]
    response = httpx.get(f"{standin.urls.backend_url}/api/threads", headers=bearer(refresh),
                         timeout=5)
    assert response.status_code == 401 and "detail" in response.json()


def test_token_with_a_wrong_signature_is_invalid(standin) -> None:
    forged = jwt.encode(_claims(), "not-the-key-" + "x" * 32, algorithm="HS256")
    answer = httpx.post(f"{standin.urls.auth_url}/auth/validate", json={"token": forged},
                        timeout=5).json()
    assert answer == {"valid": False, "error": "invalid_token", "message": answer["message"]}


@pytest.mark.parametrize(("headers", "body", "status", "detail"), [
    ({}, None, 401, "E2E bypass key required"),
    ({"X-E2E-Bypass-Key": "wrong"}, None, 401, "Invalid E2E bypass key"),
    ("right", b"{not json", 422, "not valid JSON"),
    ("right", b"[1, 2]", 422, "JSON object"),
])
def test_sign_in_refusals(standin, headers, body, status, detail) -> None:
    if headers == "right":
        headers = {"X-E2E-Bypass-Key": standin.bypass_key}
    response = httpx.post(f"{standin.urls.auth_url}/auth/e2e/test-auth", headers=headers,
                          content=body, timeout=5)
    assert response.status_code == status
    assert detail in response.json()["detail"]


@pytest.mark.parametrize(("token", "valid", "error"), [
    ("good", True, None), ("garbage", False, "invalid_token"), (None, False, "missing_token")])
def test_validate_always_answers_200(standin, token, valid, error) -> None:
    if token == "good":
        token = sign_in(standin)
    response = httpx.post(f"{standin.urls.auth_url}/auth/validate", json={"token": token},
                          timeout=5)
    assert response.status_code == 200
    assert response.json()["valid"] is valid and response.json().get("error") == error
