"""The WebSocket endpoint: token checks and refusal, welcome, keep-alive, messages and agent runs.

Shapes come from the variant (standin/variants.py); the defaults are those of
`netra_backend/app/routes/websocket.py` and `websocket_core/` at cc536e0b5.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from .agents import run_agent
from .auth import Identity, InvalidToken, bearer_token
from .limits import NestedTooDeeply, load_json
from .threads import ThreadNotFound, add_message, delete_messages
from .variants import Ack, KeepAlive, Refusal, Welcome

if TYPE_CHECKING:
    from .state import StandinState

MAX_MESSAGE_SIZE = 64 * 1024
PLATFORM_FRAME_LIMIT = 8192  # the real route's limit, honoured under message-size-limit
USER_MESSAGE_TYPES = {"user_message", "message", "chat_message"}
AGENT_TYPES = {"start_agent", "execute_agent"}
SELECTED_SUBPROTOCOL = "jwt-auth"
ANONYMOUS = Identity(user_id="anonymous", email="", permissions=(), expires_at=0.0)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+=*")
# The hole of websocket_core/unified_websocket_auth.py (seed era): a header whose name says
# "test" or "e2e" switched token validation off. The `e2e-header-bypass` fault opens it.
_TEST_HEADER = re.compile(r"test|e2e", re.IGNORECASE)
# Errors a send may raise once the peer has gone; a background sender then just stops.
_GONE = (WebSocketDisconnect, OSError, RuntimeError)

log = logging.getLogger("standin.realtime")


def _subprotocol_token(protocol: str, raw_allowed: bool) -> str:
    """The token of a `jwt.<base64url(token)>` subprotocol (padding optional); the raw
    `jwt.<token>` only where the variant allows it. Raises InvalidToken."""
    encoded = protocol[4:]
    if _BASE64URL.fullmatch(encoded):
        padded = encoded.rstrip("=") + "=" * (-len(encoded.rstrip("=")) % 4)
        try:
            return base64.urlsafe_b64decode(padded).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            pass
    if raw_allowed:
        return encoded
    raise InvalidToken("invalid_token", "The jwt subprotocol must carry a base64url-encoded token")


def _offered_token(websocket: WebSocket, raw_subprotocol_allowed: bool) -> str | None:
    """The token of a Bearer header, a `jwt.*` subprotocol or ?token=; raises InvalidToken."""
    token = bearer_token(websocket)
    if token:
        return token
    for protocol in websocket.scope.get("subprotocols", []):
        if protocol.startswith("jwt."):
            return _subprotocol_token(protocol, raw_subprotocol_allowed)
    return websocket.query_params.get("token") or None


def _authenticate(websocket: WebSocket, state: StandinState) -> Identity | InvalidToken:
    """The caller's identity, or the reason to refuse the session."""
    try:
        token = _offered_token(websocket, state.variant.raw_jwt_subprotocol)
    except InvalidToken as exc:
        return exc
    faults = state.faults
    if token is None and "ws-auth-not-enforced" in faults:
        return ANONYMOUS
    if token and "e2e-header-bypass" in faults and any(
            _TEST_HEADER.search(name) for name in websocket.headers):
        return Identity(user_id="e2e-test-user", email="", permissions=(), expires_at=0.0)
    try:
        return state.tokens.check(token,
                                  verify_signature="invalid-token-accepted" not in faults,
                                  verify_exp="expired-token-accepted" not in faults,
                                  accept_refresh="refresh-token-accepted" in faults)
    except InvalidToken as exc:
        return exc


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error_message", "code": code, "message": message, "timestamp": time.time()}


def _format_error(state: StandinState, reason: str) -> dict[str, Any]:
    """The answer to a frame that is not JSON, keyed as the variant keys it."""
    variant = state.variant
    message_key = "error_message" if variant.format_error_key == "error_code" else "message"
    return {"type": "error_message", variant.format_error_key: variant.format_error_code,
            message_key: reason, "timestamp": time.time()}


async def websocket_endpoint(websocket: WebSocket) -> None:
    state: StandinState = websocket.app.state.standin
    outcome = _authenticate(websocket, state)
    if isinstance(outcome, InvalidToken) and state.variant.refusal is Refusal.HANDSHAKE_403:
        await websocket.close(code=1008)  # before accept: the handshake answers 403
        return
    offered = websocket.scope.get("subprotocols", [])
    # The server never echoes a jwt.* subprotocol; it selects jwt-auth when offered.
    await websocket.accept(subprotocol=SELECTED_SUBPROTOCOL if SELECTED_SUBPROTOCOL in offered
                           else None)
    welcome = True
    if isinstance(outcome, InvalidToken):
        # Accept first, say why, then close: websocket.py at cc536e0b5 ("SSOT Auth failed").
        code = "NO_TOKEN" if outcome.code == "missing_token" else "VALIDATION_FAILED"
        await websocket.send_json(_error(code, f"Authentication failed: {outcome}"))
        if "refusal-without-close" not in state.faults:
            await asyncio.sleep(state.refusal_close_delay_s)
            await websocket.close(code=state.variant.refusal_close_code, reason="SSOT Auth failed")
            return
        outcome, welcome = ANONYMOUS, False
    if "user-lockout" in state.faults and outcome is not ANONYMOUS:
        held = state.user_managers.get(outcome.user_id, 0)
        if held >= state.user_manager_cap:  # accepted, told, closed: the factory's refusal
            await websocket.send_json(_error(
                "FACTORY_INIT_FAILED", f"WebSocket manager creation failed: user has {held} "
                f"managers (max {state.user_manager_cap})"))
            await websocket.close(code=1011, reason="FACTORY_INIT_FAILED")
            return
        state.user_managers[outcome.user_id] = held + 1  # never freed within a run
    limit = 1 if "session-limit-1" in state.faults else state.max_sessions
    if limit and state.open_sessions >= limit:
        await websocket.close(code=1008, reason="Too many sessions")
        return
    lost = state.lost_on_reconnect.pop(outcome.user_id, [])
    if lost and "messages-lost-on-reconnect" in state.faults:  # the user came back: gone
        await run_in_threadpool(delete_messages, state.database, lost)
    state.open_sessions += 1
    session = _Session(websocket, state, outcome)
    state.live_sessions.add(session)
    try:
        await session.serve(welcome)
    except WebSocketDisconnect:
        pass
    finally:
        state.open_sessions -= 1
        state.live_sessions.discard(session)
        await session.stop()
        if session.stored and "messages-lost-on-reconnect" in state.faults:
            state.lost_on_reconnect.setdefault(outcome.user_id, []).extend(session.stored)


class _Session:
    """One accepted session: its sends are serialised, its background tasks cancelled at the end."""

    def __init__(self, websocket: WebSocket, state: StandinState, identity: Identity) -> None:
        self.websocket = websocket
        self.state = state
        self.identity = identity
        self.connection_id = str(uuid.uuid4())
        self._send_lock = asyncio.Lock()
        self.opened_busy = state.open_sessions > state.busy_sessions  # opened under load
        self._tasks: set[asyncio.Task[None]] = set()
        self.stored: list[int] = []  # ids of the messages this session stored

    async def send(self, frame: dict[str, Any]) -> None:
        """Send a frame; never after either side closed (ASGI forbids it)."""
        async with self._send_lock:
            if self.opened_busy and "slow-under-load" in self.state.faults:
                await asyncio.sleep(self.state.busy_frame_delay_s)
            if WebSocketState.DISCONNECTED in (self.websocket.application_state,
                                               self.websocket.client_state):
                raise WebSocketDisconnect(1000)
            await self.websocket.send_json(frame)

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, *_GONE):
                await task

    def _welcome(self) -> dict[str, Any]:
        now = time.time()
        data = {"event": "connection_established", "connection_id": self.connection_id,
                "user_id": self.identity.user_id, "connection_ready": True, "server_time": now,
                "config": {"heartbeat_interval": self.state.keepalive_interval_s,
                           "max_message_size": MAX_MESSAGE_SIZE}}
        if self.state.variant.welcome is Welcome.CONNECTION_ESTABLISHED:
            return {"type": "connection_established", "data": data, "timestamp": now}
        return {"type": "system_message", "data": data, "timestamp": now}

    async def _keep_alive(self) -> None:
        """The server's own application-level ping (or heartbeat), right away and then at the
        interval (30 s at cc536e0b5)."""
        kind = "heartbeat" if self.state.variant.keepalive is KeepAlive.HEARTBEAT else "ping"
        try:
            while True:
                now = time.time()
                await self.send({"type": kind, "data": {"timestamp": now}, "timestamp": now})
                await asyncio.sleep(self.state.keepalive_interval_s)
        except _GONE:
            return

    async def serve(self, welcome: bool) -> None:
        state = self.state
        if welcome:
            if state.variant.handshake_validation:
                # the handshake validation of websocket_core sends this test frame after accept
                now = time.time()
                await self.send({"type": "handshake_validation", "timestamp": now,
                                 "validation_id": f"test_{int(now * 1000)}"})
            if "slow-responses" in state.faults:
                await asyncio.sleep(state.slow_delay_s)
            await asyncio.sleep(state.tail_delay("welcome"))
            if "ws-no-welcome" not in state.faults:
                await self.send(self._welcome())
            if "ws-drop-after-welcome" in state.faults:
                await self.websocket.close(code=1011, reason="Internal error")
                return
        self._spawn(self._keep_alive())
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                try:
                    raw = (message.get("bytes") or b"").decode("utf-8")
                except UnicodeDecodeError:
                    await self.send(_format_error(state, "Frame is not UTF-8 text"))
                    continue
            if len(raw.encode("utf-8")) > PLATFORM_FRAME_LIMIT and "message-size-limit" in state.faults:
                continue  # routes/websocket.py drops it: no acknowledgement, no error
            if len(raw) > MAX_MESSAGE_SIZE:
                await self.send(_error("MESSAGE_TOO_LARGE",
                                       f"Frames are limited to {MAX_MESSAGE_SIZE} bytes"))
                continue
            try:
                frame = load_json(raw)
            except json.JSONDecodeError as exc:
                await self.send(_format_error(state, f"Invalid JSON: {exc.msg}"))
                continue
            except NestedTooDeeply as exc:
                await self.send(_format_error(state, f"Invalid JSON: {exc}"))
                continue
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                await self.send(_error("INVALID_MESSAGE",
                                       "A frame is a JSON object with a string 'type'"))
                continue
            await self._dispatch(frame)

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        raw_payload = frame.get("payload")
        payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
        if kind == "ping":
            await asyncio.sleep(self.state.tail_delay("pong"))
            now = time.time()
            await self.send({"type": "pong", "data": {"timestamp": now}, "timestamp": now})
        elif kind in ("pong", "heartbeat_ack"):
            return  # answers to the server's own keep-alive
        elif kind in USER_MESSAGE_TYPES:
            await self.send(await self._user_message(payload, kind))
        elif kind in AGENT_TYPES:
            user_request = payload.get("user_request")
            if not isinstance(user_request, str) or not user_request.strip():
                await self.send(_error("INVALID_MESSAGE", "payload.user_request is required"))
                return
            thread_id = frame.get("thread_id") or payload.get("thread_id")
            agent_type = payload.get("agent_type")
            self._spawn(self._agent_run(user_request,
                                        str(thread_id) if thread_id is not None else None,
                                        str(agent_type) if agent_type is not None else None))
        else:
            await self.send({"type": "ack", "received_type": kind, "status": "acknowledged",
                             "timestamp": time.time()})

    async def _agent_run(self, user_request: str, thread_id: str | None,
                         agent_type: str | None) -> None:
        """Stream one run's events; the session keeps answering meanwhile."""
        state = self.state
        if "user-lockout" in state.faults:  # each agent request holds a manager of its own
            user = self.identity.user_id
            state.user_managers[user] = state.user_managers.get(user, 0) + 1
        follow_up = thread_id is not None and thread_id in state.agent_threads
        if thread_id is not None:
            state.agent_threads.add(thread_id)
        await asyncio.sleep(state.tail_delay("agent"))
        async for event in run_agent(state.database, self.identity.user_id, user_request,
                                     state.faults, state.agent_slow_completion_s,
                                     agent_type=agent_type, follow_up=follow_up,
                                     thinking_frames=state.thinking_frames,
                                     run_s=state.agent_run_s):
            try:
                await self.send(event)
            except _GONE:
                return
            if "agent-events-cross-users" in state.faults:
                for other in list(state.live_sessions - {self}):
                    with contextlib.suppress(*_GONE):
                        await other.send(event)

    def _ack(self, kind: str, message_id: str, extra: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        if self.state.variant.user_message_ack is Ack.GENERIC:
            return {"type": "ack", "received_type": kind, "status": "acknowledged",
                    "timestamp": now, **extra}
        # websocket_core/handlers.py, UserMessageHandler._handle_user_message
        return {"type": "system_message",
                "data": {"content": "Message received", "original_message_id": message_id,
                         "status": "acknowledged", **extra},
                "timestamp": now}

    async def _user_message(self, payload: dict[str, Any], kind: str) -> dict[str, Any]:
        state = self.state
        content, thread_id = payload.get("content"), payload.get("thread_id")
        if not isinstance(content, str) or not content:
            return _error("INVALID_MESSAGE", "payload.content must be a non-empty string")
        message_id = str(uuid.uuid4())
        if "message-handler-error" in state.faults:
            return _error("HANDLER_ERROR", "The message could not be handled")
        if thread_id is None or "messages-not-stored" in state.faults:
            return self._ack(kind, message_id, {} if thread_id is None
                             else {"thread_id": str(thread_id)})
        # UserMessageHandler (websocket_core/handlers.py) acknowledges what it received; a message
        # that cannot be stored is logged on the server and never reported to the user.
        try:
            stored = await run_in_threadpool(add_message, state.database, str(thread_id),
                                             self.identity.user_id, "user", content, state.faults)
        except ThreadNotFound:
            log.warning("message for unknown thread %s not stored", thread_id)
            return self._ack(kind, message_id, {"thread_id": str(thread_id)})
        except SQLAlchemyError as exc:
            log.error("storing a message failed: %s", str(exc).splitlines()[0])
            return self._ack(kind, message_id, {"thread_id": str(thread_id)})
        self.stored.append(stored["id"])
        return self._ack(kind, message_id, {"thread_id": stored["thread_id"],
                                            "stored_message_id": stored["id"]})
