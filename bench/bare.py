"""The read baseline (issue 14): a bare ASGI endpoint doing the essential I/O of an audited read.

`GET /doc/{n}` runs one indexed SELECT and one committed audit INSERT on SQLite (WAL,
`synchronous=FULL`, the same durability as Carnet's), in the server's thread pool like any blocking
handler, with one connection per thread, and answers the row as JSON. No routing library, no
validation, no access decision, no encryption: what is left between this and Carnet is the cost of
everything Carnet adds. The database path comes from `CARNET_BARE_DB`; `prepare` creates it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread

_local = threading.local()

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def prepare(path: str, documents: int) -> list[str]:
    """A documents table with an audit table beside it; returns the document ids."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE documents (id TEXT PRIMARY KEY, holder_id TEXT, type_code TEXT, "
        "title TEXT, size INTEGER, deposited_at TEXT)"
    )
    connection.execute(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, at REAL, actor TEXT, action TEXT, "
        "holder_id TEXT, target TEXT)"
    )
    ids = [str(uuid.uuid4()) for _ in range(documents)]
    holder = str(uuid.uuid4())
    connection.executemany(
        "INSERT INTO documents VALUES (?, ?, '11502-2', 'Bilan', 1, '2026-01-01')",
        [(i, holder) for i in ids],
    )
    connection.close()
    return ids


def _connection() -> sqlite3.Connection:
    connection: sqlite3.Connection | None = getattr(_local, "connection", None)
    if connection is None:
        connection = sqlite3.connect(os.environ["CARNET_BARE_DB"], isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=30000")
        _local.connection = connection
    return connection


def _read(document_id: str) -> bytes | None:
    connection = _connection()
    row = connection.execute(
        "SELECT id, holder_id, type_code, title, size, deposited_at FROM documents WHERE id = ?",
        (document_id,),
    ).fetchone()
    if row is None:
        return None
    connection.execute("BEGIN IMMEDIATE")
    connection.execute(
        "INSERT INTO audit (at, actor, action, holder_id, target) VALUES (?, ?, ?, ?, ?)",
        (time.time(), "bench", "document.read", row[1], row[0]),
    )
    connection.execute("COMMIT")
    keys = ("id", "holder_id", "type_code", "title", "size", "deposited_at")
    return json.dumps(dict(zip(keys, row, strict=True))).encode()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    body = None
    if path.startswith("/doc/"):
        body = await anyio.to_thread.run_sync(_read, path[5:])
    status = 200 if body is not None else 404
    body = body or b"{}"
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _framework_app() -> Any:
    """The same read behind FastAPI, as Carnet's routes are declared (a sync route, a sync
    generator dependency for the unit of work): what the framework alone costs per request."""
    from collections.abc import Iterator

    from fastapi import Depends, FastAPI, HTTPException

    framework = FastAPI()

    def unit() -> Iterator[sqlite3.Connection]:
        yield _connection()

    @framework.get("/doc/{document_id}")
    def read(document_id: str, connection: sqlite3.Connection = Depends(unit)) -> Any:
        body = _read(document_id)
        if body is None:
            raise HTTPException(404)
        return json.loads(body)

    return framework


framework_app = _framework_app()
