"""Threads and their messages, each user seeing only their own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from .auth import InvalidToken, api_identity, bearer_token, error, read_json_object
from .db import Database
from .faults import FaultSwitch
from .models import Message, Thread


class ThreadNotFound(LookupError):
    pass


def _epoch(moment: datetime) -> int:
    """Whole seconds since the epoch; SQLite hands back naive datetimes, which are UTC here."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _thread_json(thread: Thread) -> dict:
    # created_at in whole epoch seconds, as routes/threads_route.py answers
    return {"id": thread.id, "title": thread.title, "user_id": thread.user_id,
            "metadata": thread.meta or {}, "created_at": _epoch(thread.created_at)}


def _message_json(message: Message) -> dict:
    return {"id": message.id, "thread_id": message.thread_id, "role": message.role,
            "content": message.content, "created_at": message.created_at.isoformat()}


def create_thread(database: Database, user_id: str, title: str, meta: dict[str, Any],
                  persist: bool = True) -> dict[str, Any]:
    """Create a thread; with persist=False flush it and never commit, as
    base_crud._create_entity did at cc536e0b5."""
    with database.session(commit=persist) as session:
        thread = Thread(id=str(uuid.uuid4()), user_id=user_id, title=title, meta=meta)
        session.add(thread)
        session.flush()
        return _thread_json(thread)


def owned_thread(session: Session, thread_id: str, user_id: str, leak: bool = False) -> Thread:
    thread = session.get(Thread, thread_id)
    if thread is None or (thread.user_id != user_id and not leak):
        raise ThreadNotFound(thread_id)
    return thread


STORED_CONTENT_LIMIT = 4096  # what `messages-truncated` cuts a message to


def stored_content(content: str, faults: FaultSwitch | None) -> str:
    """The content as it is stored: exactly as sent, unless a fault mangles it."""
    if faults is not None and "messages-unicode-mangled" in faults:
        content = content.encode("ascii", "replace").decode("ascii")
    if faults is not None and "messages-truncated" in faults:
        content = content[:STORED_CONTENT_LIMIT]
    return content


def add_message(database: Database, thread_id: str, user_id: str, role: str,
                content: str, faults: FaultSwitch | None = None) -> dict[str, Any]:
    """Persist a message to one of the user's threads; raises ThreadNotFound."""
    leak = faults is not None and "thread-write-leak" in faults
    copies = 2 if faults is not None and "messages-duplicated" in faults else 1
    with database.session() as session:
        owned_thread(session, thread_id, user_id, leak=leak)
        for _ in range(copies):
            message = Message(thread_id=thread_id, user_id=user_id, role=role,
                              content=stored_content(content, faults))
            session.add(message)
            session.flush()
        return _message_json(message)


def delete_messages(database: Database, message_ids: list[int]) -> None:
    """Remove messages (what `messages-lost-on-reconnect` does when their session ends)."""
    with database.session() as session:
        for message_id in message_ids:
            message = session.get(Message, message_id)
            if message is not None:
                session.delete(message)


def _list_threads(database: Database, user_id: str, faults: FaultSwitch) -> list[dict[str, Any]]:
    with database.session() as session:
        rows = list(session.scalars(select(Thread).where(Thread.user_id == user_id)
                                    .order_by(Thread.created_at)).all())
        if "thread-list-misses-newest" in faults:
            rows = rows[:-1]
        return [_thread_json(row) for row in rows]


def _list_messages(database: Database, thread_id: str, user_id: str,
                   faults: FaultSwitch) -> list[dict[str, Any]]:
    with database.session() as session:
        owned_thread(session, thread_id, user_id, leak="thread-leak" in faults)
        order = Message.id.desc() if "messages-out-of-order" in faults else Message.id
        rows = session.scalars(select(Message).where(Message.thread_id == thread_id)
                               .order_by(order)).all()
        return [_message_json(row) for row in rows]


def _caller(request: Request) -> str:
    """The user id of the request's bearer token; raises InvalidToken."""
    return api_identity(request.app.state.standin, bearer_token(request)).user_id


async def threads(request: Request) -> JSONResponse:
    state = request.app.state.standin
    try:
        user_id = _caller(request)
    except InvalidToken as exc:
        return error(401, str(exc))
    try:
        if request.method == "GET":
            return JSONResponse(await run_in_threadpool(_list_threads, state.database, user_id,
                                                           state.faults))
        try:
            body = await read_json_object(request, optional=True)
        except ValueError as exc:
            return error(422, str(exc))
        title, meta = body.get("title", "New conversation"), body.get("metadata") or {}
        if not isinstance(title, str) or not title.strip() or len(title) > 255:
            return error(422, "title must be a non-empty string of at most 255 characters")
        if not isinstance(meta, dict):
            return error(422, "metadata must be a JSON object")
        created = await run_in_threadpool(create_thread, state.database, user_id, title, meta,
                                          "threads-not-persisted" not in state.faults)
        return JSONResponse(created, status_code=state.variant.thread_created_status)
    except SQLAlchemyError:
        return JSONResponse({"error": "Internal server error"}, status_code=500)


async def thread_messages(request: Request) -> JSONResponse:
    state = request.app.state.standin
    try:
        user_id = _caller(request)
    except InvalidToken as exc:
        return error(401, str(exc))
    try:
        messages = await run_in_threadpool(_list_messages, state.database,
                                           request.path_params["thread_id"], user_id, state.faults)
    except ThreadNotFound:
        return error(404, "Thread not found")
    except SQLAlchemyError:
        return JSONResponse({"error": "Internal server error"}, status_code=500)
    return JSONResponse(messages)
