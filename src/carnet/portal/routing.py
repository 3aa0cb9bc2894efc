"""The portal's route class: CSRF and body limits before the route, readable HTML errors after.

Every portal route is a `PortalRoute`. Before an unsafe request (POST) reaches the route, it
- sends the browser to the login page when the route needs a session and there is none live
  (expired by the idle timeout, logged out): nothing is done;
- reads the body with a ceiling (64 KB, or the upload limit plus the form's overhead for upload
  routes): larger bodies are refused with 413 before being kept;
- checks the CSRF token (`csrf.check`): refused with a 403 page.
Any error raised by the route or the services becomes a page in the person's language (or a small
JSON answer for the upload script), with the request id and never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message

from carnet.access.routes import route_rules
from carnet.auth import sessions as sessions
from carnet.errors import CarnetError, Unauthenticated
from carnet.http import request_id
from carnet.portal import csrf, messages
from carnet.portal.i18n import N_
from carnet.portal.web import PortalRedirect, formatter, redirect, render, settings_of

log = logging.getLogger("carnet.portal")

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_LIMIT = 64 * 1024
FORM_OVERHEAD = 64 * 1024
LARGE_BODY = "__carnet_portal_large_body__"
SESSION_RULE = "portal-session"


def large_body(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an upload route: its body may reach the upload limit plus the form's overhead."""
    setattr(endpoint, LARGE_BODY, True)
    return endpoint


class BodyTooLarge(CarnetError):
    code = "too-large"
    status_code = 413


def wants_json(request: Request) -> bool:
    """The upload script asks for JSON answers (it shows them next to the drop zone)."""
    return request.headers.get("x-requested-with", "") == "carnet-portal"


def login_location(request: Request) -> str:
    """The login page, saying why: a session that ended, or none yet."""
    reason = "expired" if request.cookies.get(sessions.SESSION_COOKIE) else "required"
    path = request.url.path
    login = "/pro/login" if path == "/pro" or path.startswith("/pro/") else "/login"
    return f"{login}?reason={reason}"


async def _bounded(request: Request, limit: int) -> Request:
    """The same request, its body read into memory up to `limit` bytes (413 beyond)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge("The request is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge("The request is too large.")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    return Request(request.scope, replay)


class PortalRoute(APIRoute):
    """An APIRoute answering HTML pages; see the module's docstring."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        needs_session = any(rule.startswith(SESSION_RULE) for rule in route_rules(self.dependant))
        is_upload = bool(getattr(self.endpoint, LARGE_BODY, False))

        async def handler(request: Request) -> Response:
            settings = settings_of(request)
            try:
                if request.method in UNSAFE:
                    live = await run_in_threadpool(sessions.current, request)
                    if needs_session and live is None:
                        response = _to_login(request)
                    else:
                        limit = (
                            settings.max_upload_bytes + FORM_OVERHEAD if is_upload else FORM_LIMIT
                        )
                        request = await _bounded(request, limit)
                        form = await request.form(max_files=2, max_fields=40)
                        submitted = request.headers.get(csrf.HEADER) or form.get(csrf.FIELD)
                        if not csrf.check(
                            request, submitted if isinstance(submitted, str) else None
                        ):
                            log.info("csrf refused", extra={"request_id": request_id(request)})
                            response = await run_in_threadpool(
                                error_page, request, 403, messages.BY_CODE["csrf"]
                            )
                        else:
                            response = await original(request)
                else:
                    response = await original(request)
            except Exception as exc:
                response = await run_in_threadpool(_from_exception, request, exc)
            csrf.attach(request, response, settings)
            return response

        return handler


def _to_login(request: Request) -> Response:
    if wants_json(request):
        fmt = formatter(request)
        return JSONResponse(
            {
                "error": {
                    "message": fmt.gettext(
                        N_("Your session has ended. Log in again, then send the file again.")
                    ),
                    "redirect": login_location(request),
                }
            },
            status_code=401,
        )
    return redirect(login_location(request))


def _from_exception(request: Request, exc: Exception) -> Response:
    fmt = formatter(request)
    if isinstance(exc, PortalRedirect):
        if wants_json(request):
            return JSONResponse({"redirect": exc.location})
        return redirect(exc.location)
    if isinstance(exc, Unauthenticated) and exc.code in ("no-session", "wrong-kind"):
        return _to_login(request)
    if isinstance(exc, CarnetError):
        if exc.status_code >= 500:
            log.error("service error", extra={"request_id": request_id(request), "code": exc.code})
        page = error_page(request, exc.status_code, messages.describe(exc, fmt), raw=True)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:  # 429: when to try again
            page.headers["Retry-After"] = str(retry_after)
        return page
    if isinstance(exc, RequestValidationError):
        # A malformed path id is a missing page; a query value out of bounds (a page number past
        # `http.MAX_REQUEST_INTEGER`) is a request to correct.
        in_path = any(tuple(err.get("loc", ()))[:1] == ("path",) for err in exc.errors())
        status = 404 if in_path else 400
        return error_page(request, status, messages.for_status(status, fmt), raw=True)
    if isinstance(exc, StarletteHTTPException):
        return error_page(
            request, exc.status_code, messages.for_status(exc.status_code, fmt), raw=True
        )
    if isinstance(exc, IntegrityError):
        log.warning("integrity conflict", extra={"request_id": request_id(request)})
        return error_page(request, 409, messages.BY_CODE["conflict"])
    if isinstance(exc, OperationalError):
        log.error("database error", extra={"request_id": request_id(request)})
        return error_page(request, 503, messages.BY_CODE["database-unavailable"])
    log.error(
        "unhandled error",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"request_id": request_id(request)},
    )
    return error_page(request, 500, messages.BY_CODE["internal-error"])


def error_page(request: Request, status: int, message: str, *, raw: bool = False) -> Response:
    """A readable error page (or JSON for the upload script). `message` is a msgid unless `raw`."""
    fmt = formatter(request)
    text = message if raw else fmt.gettext(message)
    if wants_json(request):
        return JSONResponse({"error": {"message": text}}, status_code=status)
    titles = {
        403: N_("Action refused"),
        404: N_("Page not found"),
        413: N_("File too large"),
        429: N_("Too many attempts"),
    }
    title = fmt.gettext(titles.get(status, N_("Something went wrong")))
    try:
        return render(
            request,
            "error.html",
            {"message": text, "status": status, "request_id": request_id(request)},
            title=title,
            status=status,
        )
    except Exception:  # the page itself failed (the database is down…): plain text, no detail
        log.exception("error page failed", extra={"request_id": request_id(request)})
        return Response(
            f"{text}\n\n{request_id(request)}", status_code=status, media_type="text/plain"
        )
