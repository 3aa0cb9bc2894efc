"""Logging in to the portal: a password step, then the e-mailed code, then logging out; one flow
for every kind of person (holder, professional or regulator), told apart by a `LoginKind`.

Each step calls the same services as the JSON API (`auth.login.start_login`, `verify_login`):
throttled per client and per (identifier, client), never per identifier alone (a refused attempt
is answered normally, so the request's transaction keeps its bookkeeping). The portal keeps its
own server-side session: the API's bearer token issued by the code step is revoked at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import public
from carnet.audit.service import record
from carnet.auth import login, passkeys, sessions
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import revoke_token
from carnet.errors import CarnetError
from carnet.http import client_address, db_session
from carnet.portal import i18n, messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import rid, text
from carnet.portal.web import (
    FormErrors,
    Shell,
    formatter,
    local_path,
    redirect,
    render,
    settings_of,
    vault_of,
)

_RESTART = frozenset({"bad-challenge", "challenge-used", "challenge-expired", "challenge-dead"})


@dataclass(frozen=True)
class Identified:
    """What the password step read from its form: who logs in, as which kind, and the values the
    login page shows again when it is refused."""

    kind: PrincipalKind
    identifier: str
    password: str
    shown: dict[str, Any]


@dataclass(frozen=True)
class LoginKind:
    """One kind of login page: its paths, cookie, templates and the few rules that differ."""

    name: str  # route names: `{name}_login`, `{name}_login_code`, `{name}_logout`
    path: str  # the password step; the code step is `{path}/code`
    logout_path: str
    cookie: str  # the login challenge, kept between the two steps
    home: str
    next_cookie: str | None  # a local path to return to after the login, if this kind has one
    rule: Any  # the logout route's access rule
    reasons: Mapping[str, str]  # why the login page is shown (a reason code, never data)
    cleared: frozenset[str]  # reasons on whose arrival the session cookie is cleared
    page: str  # the password step's template (the code step's is one for all: `login_code.html`)
    title: str
    shell: Callable[[], Shell] | None
    blank: Mapping[str, Any]  # the login page's values when nothing was typed
    identify: Callable[[i18n.Formatter, FormData, FormErrors], Identified]
    signed_in: Callable[[sessions.LiveSession | None], bool]
    restarts: Callable[[str], bool]  # code-step errors that send back to the password step


def login_routes(router: APIRouter, kind: LoginKind) -> None:
    """Declare the login, code and logout routes of `kind` on `router` (one access rule each)."""
    router.add_api_route(
        kind.path, _form(kind), methods=["GET"], name=f"{kind.name}_login",
        dependencies=[public()],
    )  # fmt: skip
    router.add_api_route(kind.path, _submit(kind), methods=["POST"], dependencies=[public()])
    router.add_api_route(
        f"{kind.path}/code", _code_form(kind), methods=["GET"], name=f"{kind.name}_login_code",
        dependencies=[public()],
    )  # fmt: skip
    router.add_api_route(
        f"{kind.path}/code", _code_submit(kind), methods=["POST"], dependencies=[public()]
    )
    router.add_api_route(
        f"{kind.path}/code/send", _code_send(kind), methods=["POST"],
        name=f"{kind.name}_login_code_send", dependencies=[public()],
    )  # fmt: skip
    router.add_api_route(
        kind.logout_path, _logout(kind), methods=["POST"], name=f"{kind.name}_logout"
    )


def with_retry_after(response: Response, error: CarnetError | None) -> Response:
    """A throttled attempt (`auth.throttle`, 429) says when to try again, in the page and here."""
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


def bad_otp(fmt: i18n.Formatter, message: str) -> str:
    """`verify_login` says how many tries are left ("… 3 attempt(s) left."); say it again."""
    digits = [int(word) for word in message.split() if word.isdigit()]
    left = digits[0] if digits else 0
    if left <= 0:
        return fmt.gettext(N_("The code is not correct. No attempt left: log in again."))
    return fmt.ngettext(
        "The code is not correct: %(num)d attempt left.",
        "The code is not correct: %(num)d attempts left.",
        left,
    ) % {"num": left}


def login_page(
    request: Request,
    kind: LoginKind,
    errors: FormErrors,
    *,
    shown: Mapping[str, Any] | None = None,
    status: int = 200,
    reason: str | None = None,
) -> Response:
    fmt = formatter(request)
    return render(
        request,
        kind.page,
        {**(kind.blank if shown is None else shown), "reason": reason},
        title=fmt.gettext(kind.title),
        errors=errors,
        status=status,
        shell=kind.shell() if kind.shell else None,
    )


def code_page(request: Request, kind: LoginKind, errors: FormErrors, status: int = 200) -> Response:
    fmt = formatter(request)
    passkey, sent = _second_factors(request, kind)
    return render(
        request,
        "login_code.html",
        {
            "minutes": settings_of(request).otp_ttl_minutes,
            "login_path": kind.path,
            "passkey": passkey,
            "code_sent": sent,
        },
        title=fmt.gettext(
            N_("Enter the code received by e-mail") if sent else N_("Confirm with your passkey")
        ),
        errors=errors,
        status=status,
        shell=kind.shell() if kind.shell else None,
    )


def _second_factors(request: Request, kind: LoginKind) -> tuple[bool, bool]:
    """Whether the code step offers the person's passkey (`auth.passkeys`), and whether the code
    was e-mailed (for an account with a passkey it is sent only when asked): a read of its own,
    as the code page is also shown outside any unit of work."""
    challenge = request.cookies.get(kind.cookie, "")
    if not challenge:
        return False, True
    with request.app.state.database.read_mostly() as own:  # never waits for the writer
        vault = vault_of(request)
        offered = passkeys.second_factor_offered(own, vault, challenge)
        return offered, login.code_sent(own, vault, challenge) or not offered


def _form(kind: LoginKind) -> Callable[..., Response]:
    def login_form(request: Request, reason: str = "") -> Response:
        if kind.signed_in(sessions.current(request)):
            return redirect(kind.home)
        fmt = formatter(request)
        message = fmt.gettext(kind.reasons[reason]) if reason in kind.reasons else None
        response = login_page(request, kind, FormErrors(), reason=message)
        if reason in kind.cleared:
            sessions.clear_cookie(response, settings_of(request))
        return response

    return login_form


def _submit(kind: LoginKind) -> Callable[..., Response]:
    def login_submit(
        request: Request,
        form: FormData = Depends(form_data),
        db: Session = Depends(db_session, scope="function"),
    ) -> Response:
        """Step 1 (`auth.login.start_login`): throttled per client and per (identifier, client),
        never per identifier alone; the code is e-mailed."""
        fmt = formatter(request)
        settings = settings_of(request)
        errors = FormErrors()
        who = kind.identify(fmt, form, errors)
        if not who.password:
            errors.add("password", fmt.gettext(N_("Enter your password.")))
        if errors:
            return login_page(request, kind, errors, shown=who.shown, status=400)
        outcome = login.start_login(
            db, vault_of(request), settings, who.kind, who.identifier, who.password,
            client=client_address(request), request_id=rid(request), passkey_first=True,
        )  # fmt: skip
        if outcome.error is not None:
            errors.add(None, messages.describe(outcome.error, fmt))
            response = login_page(
                request, kind, errors, shown=who.shown, status=outcome.error.status_code
            )
            return with_retry_after(response, outcome.error)
        assert outcome.value is not None
        response = redirect(f"{kind.path}/code")
        response.set_cookie(
            kind.cookie,
            outcome.value.challenge,
            max_age=outcome.value.expires_in,
            path=kind.path,
            httponly=True,
            samesite="lax",
            secure=sessions.is_secure(settings),
        )
        return response

    return login_submit


def _code_form(kind: LoginKind) -> Callable[..., Response]:
    def login_code_form(request: Request) -> Response:
        if not request.cookies.get(kind.cookie):
            return redirect(f"{kind.path}?reason=restart")
        return code_page(request, kind, FormErrors())

    return login_code_form


def _code_send(kind: LoginKind) -> Callable[..., Response]:
    def login_code_send(
        request: Request,
        form: FormData = Depends(form_data),
        db: Session = Depends(db_session, scope="function"),
    ) -> Response:
        """The person with a passkey asks for the e-mailed code instead (sent once per login)."""
        challenge = request.cookies.get(kind.cookie, "")
        if not challenge:
            return redirect(f"{kind.path}?reason=restart")
        outcome = login.send_login_code(db, vault_of(request), settings_of(request), challenge)
        if outcome.error is not None:
            return _code_refused(request, kind, outcome.error)
        return redirect(f"{kind.path}/code")

    return login_code_send


def _code_submit(kind: LoginKind) -> Callable[..., Response]:
    def login_code_submit(
        request: Request,
        form: FormData = Depends(form_data),
        db: Session = Depends(db_session, scope="function"),
    ) -> Response:
        """Step 2 (`auth.login.verify_login`): the e-mailed code opens a portal session."""
        fmt = formatter(request)
        challenge = request.cookies.get(kind.cookie, "")
        if not challenge:
            return redirect(f"{kind.path}?reason=restart")
        code = text(form, "code", 16)
        errors = FormErrors()
        if not code.strip():
            errors.add("code", fmt.gettext(N_("Enter the 6-digit code.")))
            return code_page(request, kind, errors, 400)
        outcome = login.verify_login(
            db, vault_of(request), settings_of(request), challenge, code,
            client=client_address(request), request_id=rid(request),
        )  # fmt: skip
        if outcome.error is not None:
            return _code_refused(request, kind, outcome.error)
        assert outcome.value is not None
        return open_session(request, kind, db, outcome.value)

    return login_code_submit


def _code_refused(request: Request, kind: LoginKind, error: CarnetError) -> Response:
    """A dead challenge sends back to the password step; a wrong code says the tries left."""
    fmt = formatter(request)
    errors = FormErrors()
    if error.code in _RESTART or kind.restarts(error.code):
        errors.add(None, messages.describe(error, fmt))
        response = login_page(request, kind, errors, status=error.status_code)
        response.delete_cookie(kind.cookie, path=kind.path)
        return response
    if error.code == "bad-code":
        errors.add("code", bad_otp(fmt, error.message))
    else:
        errors.add("code", messages.describe(error, fmt))
    return with_retry_after(code_page(request, kind, errors, error.status_code), error)


def open_session(request: Request, kind: LoginKind, db: Session, done: login.LoginDone) -> Response:
    # The portal keeps its own server-side session: the bearer token of the API is not needed.
    revoke_token(db, done.access_token)
    token, _row = sessions.create(
        db, done.principal, user_agent=request.headers.get("user-agent", "")
    )
    # Back where the login was asked for (an app's authorization request), else home.
    after = (
        local_path(request.cookies.get(kind.next_cookie), kind.home)
        if kind.next_cookie
        else kind.home
    )
    response = redirect(after)
    sessions.set_cookie(response, token, settings_of(request))
    response.delete_cookie(kind.cookie, path=kind.path)
    if kind.next_cookie:
        response.delete_cookie(kind.next_cookie, path="/")
    return response


def _logout(kind: LoginKind) -> Callable[..., Response]:
    def logout(
        request: Request,
        principal: Principal = kind.rule,
        db: Session = Depends(db_session, scope="function"),
    ) -> Response:
        """End this session (ACC-8: recorded)."""
        live: sessions.LiveSession = request.state.portal_session
        sessions.revoke(db, live.id)
        record(
            db,
            principal,
            "auth.logout",
            holder_id=principal.id if principal.kind is PrincipalKind.HOLDER else None,
            target_type="PortalSession",
            target_id=str(live.id),
            reason="portal",
            request_id=rid(request),
        )
        sessions.forget(request)
        response = redirect(f"{kind.path}?reason=logged-out")
        sessions.clear_cookie(response, settings_of(request))
        return response

    return logout
