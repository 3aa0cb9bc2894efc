"""CSRF protection of every portal form: a token in a hidden field, checked on every POST.

Logged in, the token is the session's own (synchronizer token stored in the `PortalSession` row and
rotated at each login): a form of one session cannot be replayed in another. Before logging in
(opposition, activation, login), it is a double-submit token: a random `carnet_csrf` cookie
(HttpOnly, SameSite=Lax) whose value the form repeats. A request whose token is missing or wrong is
refused with a readable 403 page, before the route runs.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from carnet.auth import sessions as sessions
from carnet.config import Settings

CSRF_COOKIE = "carnet_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
_NEW = "portal_new_csrf"


def _plausible(token: str | None) -> bool:
    return bool(token) and 20 <= len(token or "") <= 100


def token_for(request: Request) -> str:
    """The token to put in this page's forms."""
    live = sessions.current(request)
    if live is not None:
        return live.csrf_token
    existing = request.cookies.get(CSRF_COOKIE)
    if existing is not None and _plausible(existing):
        return existing
    fresh: str | None = getattr(request.state, _NEW, None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        setattr(request.state, _NEW, fresh)
    return fresh


def expected(request: Request) -> str | None:
    """What a form posted in this request must carry."""
    live = sessions.current(request)
    if live is not None:
        return live.csrf_token
    cookie = request.cookies.get(CSRF_COOKIE)
    return cookie if _plausible(cookie) else None


def check(request: Request, submitted: str | None) -> bool:
    wanted = expected(request)
    if not wanted or not submitted:
        return False
    return hmac.compare_digest(wanted.encode("utf-8"), submitted.encode("utf-8"))


def attach(request: Request, response: Response, settings: Settings) -> None:
    """Set the anonymous token's cookie when this request created one."""
    fresh: str | None = getattr(request.state, _NEW, None)
    if fresh is not None:
        response.set_cookie(
            CSRF_COOKIE,
            fresh,
            path="/",
            httponly=True,
            samesite="lax",
            secure=sessions.is_secure(settings),
        )
