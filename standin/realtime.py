"""The WebSocket endpoint: token checks, welcome, ping, messages and agent runs."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from .agents import run_agent
from .auth import Identity, InvalidToken, bearer_token
from .threads import ThreadNotFound, add_message

if TYPE_CHECKING:
    from .app import StandinState

MAX_MESSAGE_SIZE = 64 * 1024
HEARTBEAT_INTERVAL_S = 30
USER_MESSAGE_TYPES = {"user_message", "message", "chat_message"}
AGENT_TYPES = {"start_agent", "execute_agent"}
ANONYMOUS = Identity(user_id="anonymous", email="", permissions=(), expires_at=0.0)


def _offered_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The token and the subprotocol to echo: Bearer header, `jwt.<token>` subprotocol or ?token=."""
    token = bearer_token(websocket)
    if token:
        return token, None
    for protocol in websocket.scope.get("subprotocols", []):
        if protocol.startswith("jwt."):
            return protocol[4:], protocol
    return websocket.query_params.get("token") or None, None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error_message", "code": code, "message": message, "timestamp": time.time()}


async def websocket_endpoint(websocket: WebSocket) -> None:
    state = websocket.app.state.standin
    token, subprotocol = _offered_token(websocket)
    try:
        if token is None and "ws-auth-not-enforced" in state.faults:
            identity = ANONYMOUS
        else:
            identity = state.tokens.check(
                token, verify_signature="invalid-token-accepted" not in state.faults)
    except InvalidToken:
        await websocket.close(code=1008)  # before accept: the handshake answers 403
        return
    await websocket.accept(subprotocol=subprotocol)
    limit = 1 if "session-limit-1" in state.faults else state.max_sessions
    if limit and state.open_sessions >= limit:
        await websocket.close(code=1008, reason="Too many sessions")
        return
    state.open_sessions += 1
    try:
        await _serve(websocket, state, identity)
    except WebSocketDisconnect:
        pass
    finally:
        state.open_sessions -= 1


async def _serve(websocket: WebSocket, state: StandinState, identity: Identity) -> None:
    connection_id = str(uuid.uuid4())
    if "slow-responses" in state.faults:
        await asyncio.sleep(state.slow_delay_s)
    if "ws-no-welcome" not in state.faults:
        await websocket.send_json({
            "type": "system_message",
            "data": {"event": "connection_established", "connection_id": connection_id,
                     "user_id": identity.user_id, "connection_ready": True,
                     "server_time": time.time(),
                     "config": {"heartbeat_interval": HEARTBEAT_INTERVAL_S,
                                "max_message_size": MAX_MESSAGE_SIZE}},
            "timestamp": time.time()})
    if "ws-drop-after-welcome" in state.faults:
        await websocket.close(code=1011, reason="Internal error")
        return
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            raw_bytes = message.get("bytes") or b""
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError:
                await websocket.send_json(_error("JSON_PARSE_ERROR", "Frame is not UTF-8 text"))
                continue
        if len(raw) > MAX_MESSAGE_SIZE:
            await websocket.send_json(_error("MESSAGE_TOO_LARGE",
                                             f"Frames are limited to {MAX_MESSAGE_SIZE} bytes"))
            continue
        try:
            frame = json.loads(raw)
        except json.JSONDecodeError as exc:
            await websocket.send_json(_error("JSON_PARSE_ERROR", f"Invalid JSON: {exc.msg}"))
            continue
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await websocket.send_json(_error("INVALID_MESSAGE",
                                             "A frame is a JSON object with a string 'type'"))
            continue
        await _dispatch(websocket, state, identity, frame)


async def _dispatch(websocket: WebSocket, state: StandinState, identity: Identity,
                    frame: dict[str, Any]) -> None:
    kind = frame["type"]
    raw_payload = frame.get("payload")
    payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
    if kind == "ping":
        now = time.time()
        await websocket.send_json({"type": "pong", "data": {"timestamp": now}, "timestamp": now})
    elif kind in USER_MESSAGE_TYPES:
        await websocket.send_json(await _user_message(state, identity, payload, kind))
    elif kind in AGENT_TYPES:
        user_request = payload.get("user_request")
        if not isinstance(user_request, str) or not user_request.strip():
            await websocket.send_json(_error("INVALID_MESSAGE", "payload.user_request is required"))
            return
        async for event in run_agent(state.database, identity.user_id, user_request,
                                     state.faults):
            await websocket.send_json(event)
    else:
        await websocket.send_json({"type": "ack", "received_type": kind,
                                   "status": "acknowledged", "timestamp": time.time()})


async def _user_message(state: StandinState, identity: Identity, payload: dict[str, Any],
                        kind: str) -> dict[str, Any]:
    content, thread_id = payload.get("content"), payload.get("thread_id")
    if not isinstance(content, str) or not content:
        return _error("INVALID_MESSAGE", "payload.content must be a non-empty string")
    ack: dict[str, Any] = {"type": "ack", "received_type": kind, "status": "acknowledged",
                           "timestamp": time.time()}
    if thread_id is None:
        return ack
    try:
        stored = await run_in_threadpool(add_message, state.database, str(thread_id),
                                         identity.user_id, "user", content)
    except ThreadNotFound:
        return _error("THREAD_NOT_FOUND", "No such thread for this user")
    except SQLAlchemyError:
        return _error("INTERNAL_ERROR", "The message could not be stored")
    return {**ack, "thread_id": stored["thread_id"], "message_id": stored["id"]}
