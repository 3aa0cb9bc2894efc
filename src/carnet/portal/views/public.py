"""Pages without login: welcome, language, opposition with its proof (LC-2), activation (LC-4),
renewal of a code, and logging in with a password then an e-mailed code.

Each form calls the same services as the JSON API (`accounts.lifecycle`, `auth.login`). Refused
attempts are committed with their bookkeeping (failure counters, locks, audit entries): the page is
answered normally, so the request's transaction keeps them. A failure after the code was accepted
rolls everything back (nothing half-done).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import portal_session, public
from carnet.accounts import lifecycle, passwords
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.proof import download_proof, find_proof
from carnet.auth import login
from carnet.auth import sessions as sessions
from carnet.auth.principal import Principal, PrincipalKind
from carnet.errors import CarnetError
from carnet.http import client_address, db_session, get_database
from carnet.notifications.rules import is_valid_email
from carnet.portal import i18n, messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import (
    Visit,
    new_router,
    parse_date,
    rid,
    text,
    visiting,
)
from carnet.portal.views.login import Identified, LoginKind, login_routes, with_retry_after
from carnet.portal.web import (
    FormErrors,
    formatter,
    local_path,
    redirect,
    render,
    settings_of,
    vault_of,
)

router = new_router()

LOGIN_COOKIE = "carnet_login"
LOGIN_PATH = "/login"
NEXT_COOKIE = "carnet_next"  # a local path to return to after the login (apps' consent)

# Why the login or welcome page is shown (a query parameter: a reason code, never data).
REASONS = {
    "expired": N_("Your session has ended (15 minutes without activity). Log in again."),
    "logged-out": N_("You are logged out. Close the browser if you use a shared computer."),
    "everywhere": N_("You are logged out on every device."),
    "activated": N_(
        "Your space is activated. Log in with your username and password: a code will be sent "
        "to your e-mail address."
    ),
    "restart": N_("Your login attempt has ended: enter your username and password again."),
    "password-reset": N_(
        "Your password is changed and every session of yours has ended. Log in with the new "
        "password."
    ),
    "required": N_("Log in to see this page."),
    "app": N_("Log in to connect the app to your space."),
}

NIR_HELP = N_(
    "The 15 characters of the number on your health insurance card (Carte Vitale), spaces allowed."
)
CODE_HELP = N_(
    "The 12 characters of the code received by letter or e-mail, such as ACDE-FGHJ-KMNP."
)


def nir_error(fmt: i18n.Formatter, nir: str) -> str | None:
    """ID-1 (`accounts.rules.nir_problem`), said in the person's words."""
    if not nir.strip():
        return fmt.gettext(N_("Enter your social security number."))
    if account_rules.nir_problem(nir) is not None:
        return fmt.gettext(
            N_(
                "This social security number is not valid: check the 15 characters "
                "(13 digits and a 2-digit key)."
            )
        )
    return None


# -- welcome and language ------------------------------------------------------------------------


@router.get("/", name="portal_welcome", dependencies=[public()])
def welcome(request: Request, reason: str = "") -> Response:
    fmt = formatter(request)
    if sessions.current(request) is not None:
        return redirect("/home")
    message = fmt.gettext(REASONS[reason]) if reason in REASONS else None
    return render(request, "welcome.html", {"reason": message}, title=fmt.gettext(N_("Welcome")))


@router.get("/lang/{code}", name="portal_language", dependencies=[public()])
def language(request: Request, code: str, next: str = "/") -> Response:
    """Switch the language (a cookie kept one year); back to the page the person was on."""
    response = redirect(local_path(next))
    if code in i18n.LOCALES:
        response.set_cookie(
            i18n.LANG_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            path="/",
            httponly=True,
            samesite="lax",
            secure=sessions.is_secure(settings_of(request)),
        )
    return response


@router.get("/closed", name="portal_closed", dependencies=[public()])
def closed(request: Request, erase: Annotated[int, Query(ge=0, le=1)] = 0) -> Response:
    """After closing (LC-5): what happens next, without any data."""
    fmt = formatter(request)
    return render(
        request,
        "closed.html",
        {"erase": bool(erase), "archive_years": settings_of(request).archive_years},
        title=fmt.gettext(N_("Your space is closed")),
    )


# -- opposition (LC-2) ---------------------------------------------------------------------------


def _opposition_page(
    request: Request, values: dict[str, str], errors: FormErrors, status: int = 200
) -> Response:
    fmt = formatter(request)
    return render(
        request,
        "opposition.html",
        {"values": values, "nir_help": fmt.gettext(NIR_HELP), "code_help": fmt.gettext(CODE_HELP)},
        title=fmt.gettext(N_("Oppose the creation of your space")),
        errors=errors,
        status=status,
    )


@router.get("/opposition", name="portal_opposition", dependencies=[public()])
def opposition_form(request: Request) -> Response:
    return _opposition_page(request, {"scope": "space"}, FormErrors())


@router.post("/opposition", dependencies=[public()])  # rule LC-2: never requires logging in
def opposition_submit(
    request: Request,
    form: FormData = Depends(form_data),
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    fmt = formatter(request)
    settings = settings_of(request)
    nir, code = text(form, "nir", 32), text(form, "code", 32)
    scope = "dmp-migration" if text(form, "scope") == "dmp-migration" else "space"
    values = {"nir": nir, "code": code, "scope": scope}
    errors = FormErrors()
    problem = nir_error(fmt, nir)
    if problem:
        errors.add("nir", problem)
    if not code.strip():
        errors.add("code", fmt.gettext(N_("Enter the provisional code you received.")))
    if errors:
        return _opposition_page(request, values, errors, 400)
    check = lifecycle.check_code(
        db, vault_of(request), settings, nir, code, client=client_address(request)
    )
    if check.error is not None:
        already = _earlier_proof(db, check)
        if already is not None:  # the same form sent twice: the opposition is recorded once
            return redirect(f"/opposition/{already}")
        errors.add("code", messages.describe(check.error, fmt))
        page = _opposition_page(request, values, errors, check.error.status_code)
        return with_retry_after(page, check.error)
    assert check.holder is not None
    try:
        proof = lifecycle.oppose(
            db,
            settings,
            check,
            dmp_only=scope == "dmp-migration",
            actor=Principal(PrincipalKind.HOLDER, check.holder.id),
        )
    except CarnetError as exc:
        db.rollback()
        errors.add(None, messages.describe(exc, fmt))
        return _opposition_page(request, values, errors, exc.status_code)
    return redirect(f"/opposition/{proof.id}")


def _earlier_proof(db: Session, check: lifecycle.CodeCheck) -> uuid.UUID | None:
    """When the right code was already used to oppose, the proof of that opposition."""
    if (
        check.holder is None
        or check.code is None
        or getattr(check.error, "code", "") != "code-used"
    ):
        return None
    proof = account_service.latest_opposition_proof(db, check.holder.id)
    if proof is None or check.code.used_at is None:
        return None
    if abs(proof.opposed_at - check.code.used_at) > dt.timedelta(minutes=1):
        return None
    return proof.id


@router.get("/opposition/{proof_id}", name="portal_opposition_done", dependencies=[public()])
def opposition_done(
    request: Request, proof_id: str, db: Session = Depends(db_session, scope="function")
) -> Response:
    """rule LC-2: the opposition is recorded; the random proof id is the capability."""
    fmt = formatter(request)
    proof, _holder = find_proof(db, proof_id)
    return render(
        request,
        "opposition_done.html",
        {"proof": proof},
        title=fmt.gettext(N_("Your opposition is recorded")),
    )


@router.get(
    "/opposition/{proof_id}/proof.pdf", name="portal_opposition_proof", dependencies=[public()]
)
def opposition_proof(
    request: Request, proof_id: str, db: Session = Depends(db_session, scope="function")
) -> Response:
    """rule LC-2: the PDF proof (`accounts.proof`); ACC-8: the download is recorded."""
    pdf, name = download_proof(db, settings_of(request), proof_id, request_id=rid(request))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- activation (LC-4) and renewal ---------------------------------------------------------------


def _activation_page(
    request: Request, values: dict[str, str], errors: FormErrors, status: int = 200
) -> Response:
    fmt = formatter(request)
    return render(
        request,
        "activation.html",
        {
            "values": values,
            "nir_help": fmt.gettext(NIR_HELP),
            "code_help": fmt.gettext(CODE_HELP),
            "password_min": passwords.PASSWORD_MIN,
        },
        title=fmt.gettext(N_("Activate your space")),
        errors=errors,
        status=status,
    )


@router.get("/activation", name="portal_activation", dependencies=[public()])
def activation_form(request: Request) -> Response:
    return _activation_page(request, {}, FormErrors())


_ACTIVATION_FIELDS = {"birth_date": "birth_day", "username": "username", "password": "password"}


@router.post("/activation", dependencies=[public()])
def activation_submit(
    request: Request,
    form: FormData = Depends(form_data),
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """rule LC-4: NIR + provisional code + birth date, then the credentials, on one page."""
    fmt = formatter(request)
    settings = settings_of(request)
    values = {
        name: text(form, name, 300)
        for name in ("nir", "code", "birth_day", "birth_month", "birth_year", "email", "username")
    }
    password = text(form, "password", 1024)
    errors = FormErrors()
    problem = nir_error(fmt, values["nir"])
    if problem:
        errors.add("nir", problem)
    if not values["code"].strip():
        errors.add("code", fmt.gettext(N_("Enter the provisional code you received.")))
    birth_date = parse_date(values["birth_day"], values["birth_month"], values["birth_year"])
    if birth_date is None:
        errors.add(
            "birth_day",
            fmt.gettext(N_("Enter your birth date as day, month and year, such as 9 3 1988.")),
        )
    email = values["email"].strip()
    if not is_valid_email(email):
        errors.add("email", fmt.gettext(N_("Enter an e-mail address such as name@example.org.")))
    if not values["username"].strip():
        errors.add("username", fmt.gettext(N_("Choose a username.")))
    if not password:
        errors.add("password", fmt.gettext(N_("Choose a password.")))
    if errors:
        return _activation_page(request, values, errors, 400)
    assert birth_date is not None
    check = lifecycle.check_code(
        db,
        vault_of(request),
        settings,
        values["nir"],
        values["code"],
        client=client_address(request),
    )
    if check.error is not None:
        holder = check.holder
        if (
            check.error.code == "code-used"
            and holder is not None
            and holder.state == account_rules.ACTIVE
            and holder.username == login.normalize_username(values["username"])
        ):  # the same form sent twice: the space is activated once
            return redirect(f"{LOGIN_PATH}?reason=activated")
        errors.add("code", messages.describe(check.error, fmt))
        page = _activation_page(request, values, errors, check.error.status_code)
        return with_retry_after(page, check.error)
    try:
        lifecycle.activate(
            db,
            settings,
            check,
            birth_date=birth_date,
            username=values["username"],
            password=password,
            email=email,
        )
    except CarnetError as exc:
        db.rollback()
        target = _ACTIVATION_FIELDS.get(exc.field or "")
        if exc.code == "username-taken":
            target = "username"
        errors.add(target, messages.describe(exc, fmt))
        return _activation_page(request, values, errors, exc.status_code)
    return redirect(f"{LOGIN_PATH}?reason=activated")


@router.get("/renewal", name="portal_renewal", dependencies=[public()])
def renewal_form(request: Request) -> Response:
    fmt = formatter(request)
    return render(
        request,
        "renewal.html",
        {"values": {}, "nir_help": fmt.gettext(NIR_HELP), "sent": False},
        title=fmt.gettext(N_("Ask for a new code")),
    )


@router.post("/renewal", dependencies=[public()])
def renewal_submit(
    request: Request,
    background: BackgroundTasks,
    form: FormData = Depends(form_data),
    db: Session = Depends(db_session, scope="function"),
) -> Response:
    """The same answer, as quick, whether or not the number is known: the renewal runs after the
    page has left (`lifecycle.renew_apart`), and asking is throttled per client (`ask_renewal`)."""
    fmt = formatter(request)
    settings, vault = settings_of(request), vault_of(request)
    nir = text(form, "nir", 32)
    errors = FormErrors()
    problem = nir_error(fmt, nir)
    wait = None
    if problem:
        errors.add("nir", problem)
    else:
        wait = lifecycle.ask_renewal(db, vault, settings, client=client_address(request))
        if wait is not None:
            errors.add(None, messages.describe(wait, fmt))
    if errors:
        page = render(
            request,
            "renewal.html",
            {"values": {"nir": nir}, "nir_help": fmt.gettext(NIR_HELP), "sent": False},
            title=fmt.gettext(N_("Ask for a new code")),
            errors=errors,
            status=wait.status_code if wait is not None else 400,
        )
        return with_retry_after(page, wait)
    background.add_task(lifecycle.renew_apart, get_database(request), vault, settings, nir)
    return render(
        request,
        "renewal.html",
        {"values": {}, "nir_help": fmt.gettext(NIR_HELP), "sent": True},
        title=fmt.gettext(N_("Ask for a new code")),
    )


# -- logging in: password, then the e-mailed code (`views.login`) --------------------------------


def _identify(fmt: i18n.Formatter, form: FormData, errors: FormErrors) -> Identified:
    username, password = text(form, "username", 200), text(form, "password", 1024)
    if not username.strip():
        errors.add("username", fmt.gettext(N_("Enter your username.")))
    return Identified(PrincipalKind.HOLDER, username, password, {"username": username})


HOLDER_LOGIN = LoginKind(
    name="portal",
    path=LOGIN_PATH,
    logout_path="/logout",
    cookie=LOGIN_COOKIE,
    home="/home",
    next_cookie=NEXT_COOKIE,
    rule=portal_session(PrincipalKind.HOLDER),
    reasons=REASONS,
    cleared=frozenset({"expired", "logged-out", "everywhere"}),
    page="login.html",
    title=N_("Log in"),
    shell=None,
    blank={"username": ""},
    identify=_identify,
    signed_in=lambda live: live is not None,
    restarts=lambda code: code.startswith("state-"),
)
login_routes(router, HOLDER_LOGIN)


@router.post("/logout/everywhere", name="portal_logout_everywhere")
def logout_everywhere(request: Request, visit: Visit = visiting()) -> Response:
    """Every portal session, API token and login half done of the holder end at once
    (`auth.login.logout_everywhere`, the same as the API's; ACC-8: recorded)."""
    login.logout_everywhere(
        visit.db,
        visit.principal,
        holder_id=visit.principal.id,
        reason="portal-everywhere",
        request_id=rid(request),
    )
    sessions.forget(request)
    response = redirect(f"{LOGIN_PATH}?reason=everywhere")
    sessions.clear_cookie(response, settings_of(request))
    return response
