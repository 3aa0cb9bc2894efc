"""Connected apps in the portal: the OAuth2 authorization endpoint with its consent page, the
holder's connected apps (review, disconnect) and the catalogue of online apps (SRV-3, ACC-9).

`GET /oauth/authorize` first lets Authlib check the request: an unknown client or a redirect URI
that the app did not register gets an error page, never a redirect; other errors go back to the
app with their OAuth2 code. Without a holder session the browser goes to the login page and comes
back here afterwards. The consent page says in plain words what the app will see and do, for the
holder's own space or a space they manage (not as caregiver: REP-4, connecting an app changes
access settings); approving stores the consent and sends the browser back with a code.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import public
from carnet.access.rules import decide_app_consent
from carnet.accounts import lifecycle
from carnet.accounts.family import relations as family
from carnet.apps import rules, service
from carnet.apps.api import CHANGE_SETTINGS, READ_SETTINGS, oauth_request, oauth_server
from carnet.apps.models import App
from carnet.audit.service import record
from carnet.auth import sessions as sessions
from carnet.auth.principal import SYSTEM, Principal
from carnet.errors import NotFound
from carnet.http import db_session
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_, Formatter
from carnet.portal.routing import error_page
from carnet.portal.views.common import (
    Acting,
    Visit,
    acting_page,
    new_router,
    rid,
    text,
    visiting,
)
from carnet.portal.views.public import NEXT_COOKIE
from carnet.portal.web import formatter, local_path, redirect, render, settings_of

router = new_router()

OAUTH_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "aud",
    "launch",
    "nonce",
)

# What each resource type is, in plain words (consent page, connected apps).
PLAIN_RESOURCES = {
    "*": N_("all your health data"),
    "Patient": N_("your identity (names, birth date, INS)"),
    "DocumentReference": N_("your documents and their content"),
    "Binary": N_("the content of your documents"),
    "Immunization": N_("your vaccinations"),
    "Observation": N_("your measurements (weight, blood pressure…)"),
    "AllergyIntolerance": N_("your allergies"),
    "Condition": N_("your illnesses"),
    "MedicationStatement": N_("your treatments"),
    "FamilyMemberHistory": N_("your family history"),
    "Appointment": N_("your appointments"),
    "ExplanationOfBenefit": N_("your reimbursements"),
    "AuditEvent": N_("the history of accesses to your space"),
}
STATUS_LABELS = {
    rules.ONLINE: N_("Online"),
    rules.OFFLINE: N_("Offline"),
    rules.SUSPENDED: N_("Suspended"),
    rules.DELISTED: N_("Delisted"),
}


@dataclass(frozen=True)
class PlainLine:
    what: str
    does: str


def plain_lines(scopes: list[str], fmt: Formatter) -> list[PlainLine]:
    """One sentence per resource type: see, change, or both."""
    lines: list[PlainLine] = []
    for item in rules.plain(scopes):
        if item.reads and item.writes:
            does = fmt.gettext(N_("see and change"))
        elif item.writes:
            does = fmt.gettext(N_("add or change"))
        else:
            does = fmt.gettext(N_("see"))
        lines.append(PlainLine(fmt.gettext(PLAIN_RESOURCES[item.resource]), does))
    return lines


def other_lines(scopes: list[str], fmt: Formatter) -> list[str]:
    found = []
    if "offline_access" in scopes:
        found.append(fmt.gettext(N_("Stay connected until you disconnect it (offline access).")))
    if "openid" in scopes or "fhirUser" in scopes:
        found.append(fmt.gettext(N_("Know who you are in Carnet (your identifier).")))
    return found


# -- the authorization endpoint ----------------------------------------------------------------


def _oauth_error_page(request: Request, db: Session, error: OAuth2Error) -> Response:
    """Unknown client, unregistered redirect URI…: shown here, never sent to a redirect (RFC 6749
    §4.1.2.1), and audited on the system chain."""
    record(
        db, SYSTEM, "app.authorize-refused", target_type="OAuth2",
        target_id=error.error, request_id=rid(request),
    )  # fmt: skip
    fmt = formatter(request)
    message = fmt.gettext(
        N_("This connection request is not valid: the app is unknown or its return address is "
           "not one it registered. Nothing was shared.")
    )  # fmt: skip
    return error_page(request, 400, f"{message} ({error.error})", raw=True)


def _back_to_app(request: Request, db: Session, error: OAuth2Error) -> Response:
    """Other errors go back to the app (a registered redirect URI) with their OAuth2 code."""
    record(
        db, SYSTEM, "app.authorize-refused", target_type="OAuth2",
        target_id=error.error, request_id=rid(request),
    )  # fmt: skip
    params = [("error", error.error)]
    if error.description:
        params.append(("error_description", error.description))
    if error.state:
        params.append(("state", error.state))
    uri = error.redirect_uri
    return redirect(f"{uri}{'&' if '?' in uri else '?'}{urlencode(params)}")


def _app_of(db: Session, client_id: str) -> App:
    try:
        return service.get_app(db, client_id)
    except NotFound:
        raise NotFound("No such app.") from None


def _spaces(request: Request, db: Session, principal: Principal) -> list[dict[str, object]]:
    """The holder's own space and those they manage as representative (REP-4: not as caregiver)."""
    me = lifecycle.get_holder(db, principal.id)
    found: list[dict[str, object]] = [{"id": me.id, "name": family.display_name(me), "self": True}]
    for space, relation in family.managed_spaces(db, me.id, settings=settings_of(request)):
        if relation == "caregiver" and not family.caregiver_may(CHANGE_SETTINGS):
            continue
        found.append({"id": space.id, "name": family.display_name(space), "self": False})
    return found


def _consent_page(
    request: Request,
    db: Session,
    principal: Principal,
    app: App,
    params: dict[str, str],
    scope: str,
    redirect_uri: str,
) -> Response:
    fmt = formatter(request)
    scopes = scope.split()
    response = render(
        request,
        "app_consent.html",
        {
            "app": app,
            "lines": plain_lines(scopes, fmt),
            "others": other_lines(scopes, fmt),
            "params": params,
            "spaces": _spaces(request, db, principal),
            "redirect_host": urlsplit(redirect_uri).netloc,
        },
        title=fmt.gettext(N_("Connect an app")),
    )
    # The approval sends the browser on to the app's registered redirect URI.
    target = urlsplit(redirect_uri)
    origin = f"{target.scheme}://{target.netloc}"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
        f"form-action 'self' {origin}"
    )
    return response


@router.get("/oauth/authorize", name="portal_authorize", dependencies=[public()])
def authorize(request: Request, db: Session = Depends(db_session, scope="function")) -> Response:
    """OAuth2 authorization endpoint (authorization code, PKCE S256 required)."""
    live = sessions.current(request)  # its own short transaction, before this request's one
    server = oauth_server(request, db)
    oauth = oauth_request(request)
    try:
        grant = server.get_consent_grant(oauth)
    except OAuth2Error as error:
        if error.redirect_uri:
            return _back_to_app(request, db, error)
        return _oauth_error_page(request, db, error)
    app = grant.client.app
    if app.status not in rules.CONNECTABLE:
        return _back_to_app(request, db, _unavailable(grant.redirect_uri, oauth))
    if live is None or not decide_app_consent(live.principal.kind):
        response = redirect("/login?reason=app")
        path = request.url.path + "?" + request.url.query
        response.set_cookie(
            NEXT_COOKIE, local_path(path, "/home"), max_age=900, path="/", httponly=True,
            samesite="lax", secure=sessions.is_secure(settings_of(request)),
        )  # fmt: skip
        return response
    params = {name: oauth.payload.data[name] for name in OAUTH_FIELDS if name in oauth.payload.data}
    return _consent_page(
        request, db, live.principal, app, params, oauth.scope or "", grant.redirect_uri
    )


def _unavailable(redirect_uri: str, oauth: object) -> OAuth2Error:
    error = OAuth2Error(
        description="This app takes no new connection now.", redirect_uri=redirect_uri
    )
    error.error = "access_denied"
    error.state = getattr(getattr(oauth, "payload", None), "state", None)
    return error


@router.post("/oauth/authorize", name="portal_authorize_decide")
def authorize_decide(
    request: Request,
    form: FormData = Depends(form_data),
    visit: Visit = visiting(),
) -> Response:
    """The holder approves or refuses; either way the browser goes back to the app."""
    server = oauth_server(request, visit.db)
    fields = [(name, text(form, name, 2000)) for name in OAUTH_FIELDS if form.get(name)]
    oauth = oauth_request(request)
    oauth.payload = type(oauth.payload)(fields)
    try:
        grant = server.get_consent_grant(oauth)
    except OAuth2Error as error:
        if error.redirect_uri:
            return _back_to_app(request, visit.db, error)
        return _oauth_error_page(request, visit.db, error)
    app = grant.client.app
    space, _relation = family.resolve_space(
        visit.db,
        visit.principal,
        text(form, "space_id", 64),
        CHANGE_SETTINGS,
        settings=settings_of(request),
    )
    if text(form, "decision", 10) != "approve" or app.status not in rules.CONNECTABLE:
        service.record_refusal(visit.db, app, space, visit.principal, request_id=rid(request))
        response: Response = server.create_authorization_response(oauth, None, grant)
        return response
    consent = service.grant_consent(
        visit.db, app, space, visit.principal, (oauth.scope or "").split(), request_id=rid(request)
    )
    server.auth_time = visit.live.signed_in_at
    response = server.create_authorization_response(oauth, consent, grant)
    return response


# -- connected apps and the catalogue ------------------------------------------------------------


@router.get("/apps", name="portal_apps")
def apps_page(request: Request, act: Acting = acting_page(READ_SETTINGS)) -> Response:
    fmt = formatter(request)
    connected = [
        {
            "app": found,
            "lines": plain_lines(found.scopes, fmt),
            "status": fmt.gettext(STATUS_LABELS.get(found.status, found.status)),
            "connected_on": fmt.date(found.connected_at),
        }
        for found in service.connected_apps(act.db, act.space.id)
    ]
    return act.render(
        "apps.html",
        {"connected": connected, "may_change": act.may_change_access_settings},
        title=fmt.gettext(N_("Connected apps")),
    )


@router.post("/apps/{client_id}/disconnect", name="portal_app_disconnect")
def disconnect(
    client_id: str,
    request: Request,
    act: Acting = acting_page(CHANGE_SETTINGS),
) -> Response:
    service.disconnect(act.db, act.principal, act.space, client_id, request_id=rid(request))
    sessions.set_flash(act.db, act.live, "app-disconnected")
    return redirect("/apps")


@router.get("/apps/catalogue", name="portal_apps_catalogue")
def catalogue_page(request: Request, act: Acting = acting_page(READ_SETTINGS)) -> Response:
    fmt = formatter(request)
    apps = [
        {"app": app, "lines": plain_lines(app.scopes.split(), fmt)}
        for app in service.list_apps(act.db, rules.ONLINE)
    ]
    return act.render(
        "apps_catalogue.html",
        {"apps": apps},
        title=fmt.gettext(N_("App catalogue")),
    )
