"""HTTP plumbing shared by the three front doors: request ids, security headers, errors, sessions.

Errors are answered as JSON `{"error": {"code", "message", "request_id"}}`, or as a FHIR
OperationOutcome under `/fhir`. No stack trace and no health data ever reaches a response or a log.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import BackgroundTasks, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet import metrics
from carnet.config import Settings
from carnet.db import Database, committed_tasks
from carnet.errors import CarnetError, kept
from carnet.vault.service import Vault

log = logging.getLogger("carnet.http")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "object-src 'none'; frame-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    ),
}
# /docs loads Swagger UI from this server (carnet.api_docs) with inline bootstrap code; it shows no
# health data.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)

FHIR_JSON = "application/fhir+json"

# Carnet decision: every integer a request carries (page numbers, `_count`, `_offset`, `_page`…)
# lies within 0..MAX_REQUEST_INTEGER, whatever the front door. A billion pages is beyond any real
# record, and a billion times the largest page size (500) stays far within a 64-bit signed SQL
# OFFSET (PostgreSQL bigint, SQLite INTEGER): a huge number is a 400, never an overflow (a 500).
MAX_REQUEST_INTEGER = 1_000_000_000
# A page number for `/api/v1` and portal routes: declare `page: PageNumber = 1`.
PageNumber = Annotated[int, Query(ge=1, le=MAX_REQUEST_INTEGER, description="Page number, from 1.")]


def bounded_integer(text: str, *, minimum: int = 0) -> int | None:
    """The integer that `text` spells in ASCII digits, when within minimum..MAX_REQUEST_INTEGER;
    otherwise None. For parameters read by hand (FHIR searches, portal forms and queries)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_REQUEST_INTEGER)):
        return None
    number = int(text)
    return number if minimum <= number <= MAX_REQUEST_INTEGER else None


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "-")


def client_address(request: Request) -> str:
    """The client's address as the server saw it, for throttling guesses (`auth.throttle`).

    Behind a proxy listed in `forwarded_allow_ips`, the server (uvicorn, `carnet serve`) has
    already put the X-Forwarded-For address here; Carnet never reads that header itself, since any
    client can write it and would then choose the address it is counted under.
    """
    return request.client.host if request.client is not None else "unknown"


def app_settings(request: Request) -> Settings:
    """The settings of the application serving `request`."""
    settings: Settings = request.app.state.settings
    return settings


def app_vault(request: Request) -> Vault:
    """The vault of the application serving `request`."""
    vault: Vault = request.app.state.vault
    return vault


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI descriptions of the JSON errors a route may answer."""
    return {
        status: {"description": "JSON error {code, message, request_id}"} for status in statuses
    }


def file_responses(
    media_types: Iterable[str], description: str, status: int = 200
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI description of an answer carrying a file's bytes in one of `media_types` (served
    as stored: `text/*` ones with `; charset=utf-8` added)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    content = {media_type: binary for media_type in sorted(media_types)}
    return {status: {"description": description, "content": content}}


def form_body(fields: dict[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """OpenAPI `openapi_extra` of a route reading an `application/x-www-form-urlencoded` body by
    hand: its text `fields` (name -> description), `required` ones first."""
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    content = {"application/x-www-form-urlencoded": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def multipart_file_body(file: str, **fields: dict[str, str]) -> dict[str, Any]:
    """OpenAPI `openapi_extra` of a route reading a multipart upload by hand (its size checked
    while it arrives): a required `file` described by `file`, and the optional `fields`."""
    properties = {"file": {"type": "string", "format": "binary", "description": file}, **fields}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


def content_disposition(kind: str, name: str) -> str:
    """`kind; filename="ascii"; filename*=UTF-8''…`: no quote, slash or control character can
    break out of the header, and browsers that know RFC 6266 get the real name."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._")[:150] or "document"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name[:150], safe='')}"


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def db_session(request: Request, background: BackgroundTasks) -> Iterator[Session]:
    """The request's unit of work, committed before the response is sent (audit entries included):
    the only committer of a request. An error marked `errors.kept` (a refusal whose bookkeeping
    must stay: audit entry, throttle counter) commits what was written before it answers; any
    other error rolls everything back (`Database.transaction`, `read_mostly`).

    Always declare it as `Depends(db_session, scope="function")`: FastAPI otherwise runs the commit
    after the response has left (a test enforces this on every route). GET and HEAD requests get
    a read-mostly unit of work: no write lock until they write, and audit entries of pure reads
    committed in groups (`carnet.audit.group`), still before the response.

    What the services asked to do once their work is committed (`db.after_commit`: the login code
    handed to the mail transport) runs right after the response, not in it: a slow mail server
    never holds the page.
    """
    database = get_database(request)
    unit = database.read_mostly if request.method in ("GET", "HEAD") else database.transaction
    with unit() as session:
        yield session
    for task in committed_tasks(session):
        background.add_task(task, database, app_settings(request))


@contextmanager
def keeping_audit() -> Iterator[None]:
    """Around a service that records a refusal before changing anything: its Carnet error is
    marked `kept`, so the unit of work (`db_session`) commits the refusal's audit entry before the
    error answers (ACC-8: refused accesses are recorded too)."""
    try:
        yield
    except CarnetError as error:
        kept(error)
        raise


class RequestContext:
    """Request id, security headers, one log line per request and the last-resort 500.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's `BaseHTTPMiddleware` runs the
    route in a task of its own and passes the answer through a memory stream, which cost about a
    tenth of a read's CPU (issue 14, bench `reads`); here the answer's first message is only
    given its headers on the way out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = Headers(scope=scope).get("x-request-id", "")
        if not (0 < len(rid) <= 64 and rid.replace("-", "").isalnum()):
            rid = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                path = scope["path"]
                if path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
                    headers["Content-Security-Policy"] = DOCS_CSP
                if scope.get("scheme") == "https":
                    headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error", extra={"request_id": rid})
            if status:  # the answer had begun: nothing sound can be sent any more
                raise
            response = _error_response(
                Request(scope), 500, "internal-error", "An internal error occurred."
            )
            await response(scope, receive, send_with_headers)
        elapsed = time.perf_counter() - started
        # Route templates, not raw paths: raw paths can carry identifiers.
        template = getattr(scope.get("route"), "path", "(unmatched)")
        metrics.observe_request(template, scope["method"], status, elapsed)
        log.info(
            "request",
            extra={
                "request_id": rid,
                "method": scope["method"],
                "route": template,
                "status": status,
                "ms": round(elapsed * 1000, 2),
            },
        )


def install(app: FastAPI) -> None:
    """Attach middleware and error handlers to `app`."""

    app.add_middleware(RequestContext)

    @app.exception_handler(CarnetError)
    async def _carnet_error(request: Request, exc: CarnetError) -> Response:
        if exc.status_code >= 500:
            log.error("service error", extra={"request_id": request_id(request), "code": exc.code})
        response = _error_response(
            request,
            exc.status_code,
            exc.code,
            exc.message,
            field=exc.field,
            issues=getattr(exc, "issues", None),  # several problems, each with its location
            retry_after=getattr(exc, "retry_after", None),  # 429: when to try again
        )
        retry_after = getattr(exc, "retry_after", None)  # a throttled attempt (429)
        if isinstance(retry_after, int):
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(IntegrityError)
    async def _integrity_error(request: Request, exc: IntegrityError) -> Response:
        # A concurrent request won a race on a unique key: nothing was written; retrying is safe.
        log.warning("integrity conflict", extra={"request_id": request_id(request)})
        return _error_response(
            request, 409, "conflict", "The change conflicts with data saved meanwhile; try again."
        )

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> Response:
        log.error("database error", extra={"request_id": request_id(request)})
        return _error_response(
            request, 503, "database-unavailable", "The service is temporarily unavailable."
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        issues = [
            {
                "field": ".".join(str(part) for part in err.get("loc", ()) if part != "body"),
                "message": str(err.get("msg", "invalid value")),
            }
            for err in exc.errors()
        ]
        return _error_response(
            request, 400, "invalid-input", "The request is not valid.", issues=issues
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not-found", 405: "method-not-allowed", 401: "unauthenticated"}
        message = {404: "No such resource.", 405: "Method not allowed."}.get(
            exc.status_code, str(exc.detail)
        )
        return _error_response(
            request, exc.status_code, codes.get(exc.status_code, "http-error"), message
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "unhandled error",
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"request_id": request_id(request)},
        )
        return _error_response(request, 500, "internal-error", "An internal error occurred.")


def _error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    issues: list[dict[str, str]] | None = None,
    retry_after: int | None = None,
) -> Response:
    rid = request_id(request)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if answers_fhir(request.url.path):
        return JSONResponse(
            operation_outcome(status, code, message, rid, field=field, issues=issues),
            status_code=status,
            media_type=FHIR_JSON,
            headers=headers,
        )
    body: dict[str, Any] = {"code": code, "message": message, "request_id": rid}
    if field:
        body["field"] = field
    if issues:
        body["issues"] = [
            {"field": item.get("field", ""), "message": item.get("message", "")} for item in issues
        ]
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def answers_fhir(path: str) -> bool:
    """Whether errors on `path` are answered as FHIR OperationOutcomes (the FHIR front door)."""
    return path.startswith("/fhir")


_FHIR_ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    416: "value",
    422: "processing",
    429: "throttled",
    503: "transient",
}


def operation_outcome(
    status: int,
    code: str,
    message: str,
    rid: str,
    *,
    field: str | None = None,
    issues: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome: one issue per problem, each with its location when known
    and, when the problem says so (`issue_type`), its own FHIR issue type."""
    fhir_code = _FHIR_ISSUE_CODE.get(status, "exception")
    entries: list[dict[str, Any]] = []
    for item in issues or [{"field": field or "", "message": message}]:
        entry: dict[str, Any] = {
            "severity": "error",
            "code": item.get("issue_type") or fhir_code,
            "details": {
                "coding": [{"system": "https://carnet.example/error-code", "code": code}],
                "text": item["message"],
            },
        }
        if item.get("field"):
            entry["expression"] = [item["field"]]
        entries.append(entry)
    return (
        {"resourceType": "OperationOutcome", "id": rid if rid != "-" else None, "issue": entries}
        if rid != "-"
        else {"resourceType": "OperationOutcome", "issue": entries}
    )
