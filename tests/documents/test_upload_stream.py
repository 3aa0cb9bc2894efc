"""DOC-1: an oversized upload is refused while it streams in, not after it was all received.

The application is driven through raw ASGI so that the test sees how much of the body the server
pulled before answering (a test client would hand it the whole body at once).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from carnet.config import Settings
from carnet.db import Database
from carnet.documents.models import Document
from tests.documents.helpers import pdf_bytes
from tests.documents.samples import blob_files, headers_for
from tests.factories import make_holder

BOUNDARY = "carnet-test-boundary"
CHUNK = 16 * 1024
LIMIT = 64 * 1024


def _drive(
    app: FastAPI, headers: dict[str, str], chunks: int, content_length: int | None = None
) -> tuple[int, dict[str, Any], int]:
    """POST a multipart upload of `chunks` × 16 KiB; return (status, JSON body, chunks the server
    had pulled when it started answering)."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + pdf_bytes()
    pulled = 0
    answered_after: int | None = None
    messages: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled > chunks:
            await asyncio.sleep(3600)  # the client would wait for the answer
        pulled += 1
        if pulled == 1:
            return {"type": "http.request", "body": head, "more_body": True}
        last = pulled > chunks
        body = b"x" * CHUNK + (f"\r\n--{BOUNDARY}--\r\n".encode() if last else b"")
        return {"type": "http.request", "body": body, "more_body": not last}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal answered_after
        if message["type"] == "http.response.start" and answered_after is None:
            answered_after = pulled
        messages.append(message)

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw_headers += [
        (b"host", b"testserver"),
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
    ]
    if content_length is not None:
        raw_headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/me/documents",
        "raw_path": b"/api/v1/me/documents",
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=30))
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    assert answered_after is not None
    return start["status"], json.loads(body), answered_after


def _small_limit(app: FastAPI, settings: Settings) -> None:
    app.state.settings = settings.model_copy(update={"max_upload_bytes": LIMIT})


def test_doc1_oversized_stream_is_cut_as_soon_as_it_passes_the_limit(
    app: FastAPI, database: Database, settings: Settings
) -> None:
    _small_limit(app, settings)
    with database.transaction() as session:
        holder = make_holder(session)
    headers = headers_for(database, holder.id)
    status, body, pulled = _drive(app, headers, chunks=200)  # 3.2 MB, no Content-Length
    assert status == 413 and body["error"]["code"] == "too-large"
    assert body["error"]["request_id"]
    assert pulled <= LIMIT // CHUNK + 3  # a few chunks past 64 KiB, never the 200
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0
    assert blob_files(settings) == []


def test_doc1_declared_length_over_the_limit_is_refused_before_reading(
    app: FastAPI, database: Database, settings: Settings
) -> None:
    _small_limit(app, settings)
    with database.transaction() as session:
        holder = make_holder(session)
    headers = headers_for(database, holder.id)
    status, body, pulled = _drive(app, headers, chunks=200, content_length=200 * CHUNK)
    assert status == 413 and body["error"]["code"] == "too-large"
    assert pulled == 0


def test_doc1_a_file_under_the_limit_streams_in(
    app: FastAPI, database: Database, settings: Settings
) -> None:
    _small_limit(app, settings)
    with database.transaction() as session:
        holder = make_holder(session)
    status, body, _pulled = _drive(app, headers_for(database, holder.id), chunks=2)
    assert status == 201, body
    assert body["mime_type"] == "application/pdf"
