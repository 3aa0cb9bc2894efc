"""Signing in through an OpenID provider (`auth.federation`): FranceConnect for holders, Pro Santé
Connect for professionals, one button each on the login pages (`federation_buttons.html`).

`/login/oidc/{provider}` sends the browser to the provider, bound to it by a random cookie kept
for the few minutes the sign-in may take; `/login/oidc/{provider}/callback` takes the answer and
opens a portal session exactly as the e-mailed code does (a new session and CSRF token, back
where the login was asked for), or shows why not, in the person's language, nothing created.
Both are public, as the login pages are.
"""

from __future__ import annotations

import secrets

import httpx
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from carnet.access.routes import public
from carnet.auth import federation, sessions
from carnet.auth.principal import PrincipalKind
from carnet.config import OidcProvider
from carnet.errors import CarnetError, NotFound
from carnet.http import client_address, db_session
from carnet.portal import messages
from carnet.portal.i18n import N_
from carnet.portal.views.common import new_router, rid
from carnet.portal.views.login import LoginKind, with_retry_after
from carnet.portal.views.professional import PRO_LOGIN
from carnet.portal.views.public import HOLDER_LOGIN
from carnet.portal.web import formatter, local_path, redirect, render, settings_of, vault_of

router = new_router()

BROWSER_COOKIE = "carnet_oidc"  # binds a sign-in under way to the browser that started it
COOKIE_PATH = "/login/oidc"

REFUSALS = {
    "no-match": N_(
        "No Carnet account matches the identity given by the provider. Sign in with your "
        "username and password, or contact the Carnet helpdesk."
    ),
    "several-matches": N_(
        "Several Carnet accounts match the identity given by the provider, so none was chosen. "
        "Sign in with your username and password, or contact the Carnet helpdesk."
    ),
    "missing-traits": N_(
        "The provider did not give all the identity details Carnet needs to recognise you."
    ),
    "bad-state": N_("This sign-in is unknown, was already used or has expired: start again."),
    "bad-token": N_("The provider's answer could not be verified: start again."),
    "acr-too-low": N_("The provider signed you in with a level of security too low for Carnet."),
    "provider-error": N_("The provider did not sign you in."),
    "provider-unreachable": N_("The provider cannot be reached now: try again later."),
}


def _provider(request: Request, name: str) -> OidcProvider:
    provider = settings_of(request).oidc_provider(name)
    if provider is None:
        raise NotFound("No such sign-in provider.")
    return provider


def _login_kind(provider: OidcProvider) -> LoginKind:
    return HOLDER_LOGIN if federation.kind_of(provider) is PrincipalKind.HOLDER else PRO_LOGIN


def _refused(
    request: Request, provider: OidcProvider, error: CarnetError, status: int | None = None
) -> Response:
    fmt = formatter(request)
    kind = _login_kind(provider)
    message = (
        fmt.gettext(REFUSALS[error.code])
        if error.code in REFUSALS
        else messages.describe(error, fmt)
    )
    page = render(
        request,
        "federation_refused.html",
        {"message": message, "login_path": kind.path, "label": provider.label},
        title=fmt.gettext(N_("Sign-in refused")),
        status=status or error.status_code,
        shell=kind.shell() if kind.shell else None,
    )
    return with_retry_after(page, error)


@router.get("/login/oidc/{name}", name="portal_oidc_start", dependencies=[public()])
def start(
    request: Request, name: str, db: Session = Depends(db_session, scope="function")
) -> Response:
    """Send the browser to the provider (authorization code with PKCE, `state`, `nonce`)."""
    provider = _provider(request, name)
    settings = settings_of(request)
    sessions.current(request, db)  # looked up in this unit of work, before it writes
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if len(browser) < 32 or len(browser) > 64:
        browser = secrets.token_urlsafe(32)
    try:
        location = federation.begin(db, settings, provider, browser=browser)
    except (OSError, ValueError, httpx.HTTPError):
        error = federation.FederationRefused("unreachable", code="provider-unreachable")
        return _refused(request, provider, error, status=502)
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=settings.oidc_state_minutes * 60,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=sessions.is_secure(settings),
    )
    return response


@router.get("/login/oidc/{name}/callback", name="portal_oidc_callback", dependencies=[public()])
def callback(
    request: Request, name: str, db: Session = Depends(db_session, scope="function")
) -> Response:
    """The provider's answer: a portal session, or a readable refusal (nothing created)."""
    provider = _provider(request, name)
    settings = settings_of(request)
    sessions.current(request, db)  # looked up in this unit of work, before it writes
    params = {key: value[:2000] for key, value in request.query_params.items()}
    outcome = federation.finish(
        db, vault_of(request), settings, provider, params,
        browser=request.cookies.get(BROWSER_COOKIE, ""),
        client=client_address(request), request_id=rid(request),
    )  # fmt: skip
    if outcome.error is not None:
        return _refused(request, provider, outcome.error)
    assert outcome.value is not None
    kind = _login_kind(provider)
    token, _row = sessions.create(
        db, outcome.value.principal, user_agent=request.headers.get("user-agent", "")
    )
    after = (
        local_path(request.cookies.get(kind.next_cookie), kind.home)
        if kind.next_cookie
        else kind.home
    )
    response = redirect(after)
    sessions.set_cookie(response, token, settings)
    response.delete_cookie(BROWSER_COOKIE, path=COOKIE_PATH)
    if kind.next_cookie:
        response.delete_cookie(kind.next_cookie, path="/")
    return response
