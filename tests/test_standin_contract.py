"""The stand-in with no fault keeps the platform contract, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import httpx
import jwt
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from standin import start_standin
from tests.contract_probe import CLAUSES, Probe, bearer, broken_clauses, sign_in


@pytest.fixture(params=["sqlite", "postgresql"])
def any_backend(request):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with start_standin(database_url=url) as running:
        yield running


def test_every_clause_holds(any_backend) -> None:
    assert CLAUSES and broken_clauses(any_backend) == set()


def test_api_health_really_queries_the_database(any_backend) -> None:
    body = httpx.get(f"{any_backend.urls.backend_url}/api/health", timeout=5).json()
    check = body["checks"]["postgresql"]
    assert body["status"] == "healthy" and check["connected"] is True
    assert check["dialect"] == any_backend.database_url.split(":")[0].split("+")[0]
    assert check["response_time_ms"] >= 0


def test_token_carries_the_contract_claims(standin) -> None:
    claims = jwt.decode(sign_in(standin), options={"verify_signature": False})
    assert claims["iss"] == "netra-auth-service" and claims["aud"] == "netra-platform"
    assert claims["type"] == "access" and claims["exp"] - claims["iat"] == 900
    assert {"sub", "email", "permissions", "jti"} <= set(claims)


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


@pytest.mark.parametrize("how", ["header", "subprotocol", "query"])
def test_websocket_accepts_each_token_transport(standin, how: str) -> None:
    token = sign_in(standin)
    url, kwargs = standin.urls.ws_url, {}
    if how == "header":
        kwargs["additional_headers"] = bearer(token)
    elif how == "subprotocol":
        kwargs["subprotocols"] = [f"jwt.{token}"]
    else:
        url += f"?token={token}"

    async def run() -> tuple[dict, str | None]:
        async with websockets.connect(url, open_timeout=3, **kwargs) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 3)), ws.subprotocol

    welcome, subprotocol = asyncio.run(run())
    assert welcome["type"] == "system_message"
    assert welcome["data"]["connection_ready"] is True
    assert welcome["data"]["user_id"] == jwt.decode(token, options={"verify_signature": False})["sub"]
    assert subprotocol == (f"jwt.{token}" if how == "subprotocol" else None)


def test_websocket_without_token_is_refused_with_403(standin) -> None:
    async def run() -> None:
        async with websockets.connect(standin.urls.ws_url, open_timeout=3):
            pass
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(run())
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(("frame", "answer_type", "code"), [
    ("{truncated", "error_message", "JSON_PARSE_ERROR"),
    (b"\xff\xfe not utf-8", "error_message", "JSON_PARSE_ERROR"),
    ("[1, 2, 3]", "error_message", "INVALID_MESSAGE"),
    ('{"type": "user_message", "payload": {}}', "error_message", "INVALID_MESSAGE"),
    ('{"type": "start_agent", "payload": {}}', "error_message", "INVALID_MESSAGE"),
    ('{"type": "something_new"}', "ack", None),
    ("x" * 70_000, "error_message", "MESSAGE_TOO_LARGE"),
])
def test_malformed_frames_get_error_answers_and_session_lives(standin, frame, answer_type,
                                                              code) -> None:
    token = sign_in(standin)

    async def run() -> tuple[dict, dict]:
        async with websockets.connect(standin.urls.ws_url, open_timeout=3,
                                      additional_headers=bearer(token)) as ws:
            await asyncio.wait_for(ws.recv(), 3)
            await ws.send(frame)
            answer = json.loads(await asyncio.wait_for(ws.recv(), 3))
            await ws.send(json.dumps({"type": "ping"}))
            return answer, json.loads(await asyncio.wait_for(ws.recv(), 3))

    answer, pong = asyncio.run(run())
    assert answer["type"] == answer_type and answer.get("code") == code
    if answer_type == "ack":
        assert answer["received_type"] == "something_new"
    assert pong["type"] == "pong"


def test_agent_run_records_its_tool_call(standin) -> None:
    Probe(standin).agent_run()
    from sqlalchemy import create_engine, text
    engine = create_engine(standin.database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT tool_name, status FROM mcp_tool_executions")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [("list_agent_servers", "success")]


def test_threads_list_only_the_callers_own(standin) -> None:
    mine, theirs = sign_in(standin, "me@example.com"), sign_in(standin, "them@example.com")
    with httpx.Client(base_url=standin.urls.backend_url, timeout=5) as http:
        created = http.post("/api/threads", json={"title": "mine"}, headers=bearer(mine))
        http.post("/api/threads", json={"title": "theirs"}, headers=bearer(theirs))
        listed = http.get("/api/threads", headers=bearer(mine)).json()
        assert created.status_code == 201
        assert [t["title"] for t in listed] == ["mine"]
        assert http.get("/api/threads").status_code == 401
        assert http.post("/api/threads", content=b"{", headers=bearer(mine)).status_code == 422
