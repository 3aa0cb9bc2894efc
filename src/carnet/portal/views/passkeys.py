"""Passkeys in the portal: listing, adding and revoking them (holders in "My account", professionals
in their own account page), and signing in with one, after the password instead of the e-mailed
code or alone, on both login pages.

The pages decide nothing: `auth.passkeys` does (PK-1…PK-5). The browser's side is
`static/passkeys.js`: it asks the options (a JSON answer, the ceremony's cookie set), calls
`navigator.credentials`, then posts the credential in an ordinary form, so every answer, good or
bad, is an ordinary page in the person's language. Without the script, the forms say that this
browser cannot use passkeys here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import public
from carnet.auth import passkeys, sessions
from carnet.auth.login import Outcome
from carnet.auth.models import Passkey
from carnet.http import client_address, db_session
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import READ, Acting, Visit, acting_page, new_router, rid, text
from carnet.portal.views.common import visiting as visiting_rule
from carnet.portal.views.login import (
    LoginKind,
    code_page,
    login_page,
    open_session,
    with_retry_after,
)
from carnet.portal.views.professional import PRO_LOGIN, pro_session, pro_shell
from carnet.portal.views.public import HOLDER_LOGIN
from carnet.portal.web import FormErrors, formatter, redirect, render, settings_of, vault_of

router = new_router()

NO_BROWSER_SUPPORT = N_("This browser cannot use passkeys here: use your password.")


def _ceremony_cookie(response: Response, request: Request, ceremony: passkeys.Ceremony) -> None:
    """The browser's half of the ceremony (PK-3): HttpOnly, only as long as the challenge."""
    response.set_cookie(
        passkeys.COOKIE,
        ceremony.token,
        max_age=ceremony.expires_in,
        path="/",
        httponly=True,
        samesite="strict",
        secure=sessions.is_secure(settings_of(request)),
    )


def _options(request: Request, outcome: Outcome[passkeys.Ceremony]) -> Response:
    """The options for `navigator.credentials`, or the refusal in the person's language."""
    if outcome.error is not None:
        error = outcome.error
        answer = JSONResponse(
            {"error": messages.describe(error, formatter(request))}, status_code=error.status_code
        )
        return with_retry_after(answer, error)
    ceremony = outcome.value
    assert ceremony is not None
    response = JSONResponse({"publicKey": json.loads(ceremony.options_json)})
    _ceremony_cookie(response, request, ceremony)
    return response


def _end_ceremony(response: Response) -> Response:
    response.delete_cookie(passkeys.COOKIE, path="/")
    return response


# -- the account pages (holders, professionals) --------------------------------------------------


@dataclass(frozen=True)
class AccountPages:
    """Where one kind of person manages their passkeys, and the rule of those pages."""

    name: str  # route names: `{name}`, `{name}_options`, `{name}_revoke`
    path: str
    back: str  # the page the passkeys page belongs to
    rule: Any  # a dependency handing the page a `Visit` (one access rule)


def _render(
    visit: Visit,
    template: str,
    context: dict[str, Any],
    *,
    title: str,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    if isinstance(visit, Acting):
        return visit.render(template, context, title=title, errors=errors, status=status)
    return render(
        visit.request, template, context, title=title, errors=errors, status=status,
        shell=pro_shell(),
    )  # fmt: skip


def _list_page(
    pages: AccountPages, visit: Visit, errors: FormErrors | None = None, status: int = 200
) -> Response:
    fmt = formatter(visit.request)
    return _render(
        visit,
        "passkeys.html",
        {"passkeys": passkeys.listed(visit.db, visit.principal), "pages": pages},
        title=fmt.gettext(N_("Passkeys")),
        errors=errors,
        status=status,
    )


def _owned(visit: Visit, passkey_id: str) -> Passkey:
    try:
        wanted = uuid.UUID(passkey_id)
    except ValueError:
        wanted = uuid.UUID(int=0)
    return passkeys.owned(visit.db, visit.principal, wanted)


def account_routes(router: APIRouter, pages: AccountPages) -> None:
    """The list, add and revoke routes of `pages` on `router` (one access rule each)."""

    def listing(visit: Visit = pages.rule) -> Response:
        return _list_page(pages, visit)

    def options(form: FormData = Depends(form_data), visit: Visit = pages.rule) -> Response:
        """Begin adding a passkey: the current password first (`auth.passkeys`)."""
        outcome = passkeys.registration_options(
            visit.db, visit.vault, visit.settings, visit.principal, visit.live.id,
            password=text(form, "password", 1024), name=text(form, "name", 200),
            client=client_address(visit.request), request_id=visit.rid,
        )  # fmt: skip
        return _options(visit.request, outcome)

    def add(form: FormData = Depends(form_data), visit: Visit = pages.rule) -> Response:
        """Finish adding it (ACC-8: recorded; the person is told by e-mail)."""
        fmt = formatter(visit.request)
        credential = text(form, "credential", passkeys.MAX_CREDENTIAL_JSON)
        errors = FormErrors()
        if not credential:
            errors.add(None, fmt.gettext(NO_BROWSER_SUPPORT))
            return _list_page(pages, visit, errors, 400)
        outcome = passkeys.register(
            visit.db, visit.settings, visit.principal, visit.live.id,
            visit.request.cookies.get(passkeys.COOKIE, ""), credential, request_id=visit.rid,
        )  # fmt: skip
        if outcome.error is not None:
            errors.add(None, messages.describe(outcome.error, fmt))
            return _end_ceremony(_list_page(pages, visit, errors, outcome.error.status_code))
        sessions.set_flash(visit.db, visit.live, "passkey-added")
        return _end_ceremony(redirect(pages.path))

    def revoke_confirm(passkey_id: str, visit: Visit = pages.rule) -> Response:
        fmt = formatter(visit.request)
        return _render(
            visit,
            "passkey_revoke.html",
            {"passkey": _owned(visit, passkey_id), "pages": pages},
            title=fmt.gettext(N_("Remove a passkey")),
        )

    def revoke(passkey_id: str, visit: Visit = pages.rule) -> Response:
        """The passkey opens nothing any more (ACC-8: recorded)."""
        passkeys.revoke(
            visit.db, visit.principal, _owned(visit, passkey_id).id, request_id=visit.rid
        )
        sessions.set_flash(visit.db, visit.live, "passkey-revoked")
        return redirect(pages.path)

    router.add_api_route(pages.path, listing, methods=["GET"], name=pages.name)
    router.add_api_route(pages.path, add, methods=["POST"], name=f"{pages.name}_add")
    router.add_api_route(
        f"{pages.path}/options", options, methods=["POST"], name=f"{pages.name}_options"
    )
    router.add_api_route(
        f"{pages.path}/{{passkey_id}}/revoke", revoke_confirm, methods=["GET"],
        name=f"{pages.name}_revoke",
    )  # fmt: skip
    router.add_api_route(
        f"{pages.path}/{{passkey_id}}/revoke", revoke, methods=["POST"],
        name=f"{pages.name}_revoked",
    )  # fmt: skip


HOLDER_PAGES = AccountPages(
    name="portal_passkeys", path="/account/passkeys", back="/account", rule=acting_page(READ)
)
PRO_PAGES = AccountPages(
    name="portal_pro_passkeys", path="/pro/account", back="/pro", rule=visiting_rule(pro_session)
)
account_routes(router, HOLDER_PAGES)
account_routes(router, PRO_PAGES)


# -- signing in ----------------------------------------------------------------------------------


def _second_factor(form: FormData) -> bool:
    return text(form, "mode", 20) == "second-factor"


def login_routes(router: APIRouter, kind: LoginKind) -> None:
    """`{kind.path}/passkey/options` and `{kind.path}/passkey` (public, as the login itself)."""

    def options(
        request: Request,
        form: FormData = Depends(form_data),
        db: Session = Depends(db_session, scope="function"),
    ) -> Response:
        """Begin a sign-in: after the password (the login's cookie) or alone."""
        challenge = request.cookies.get(kind.cookie, "") if _second_factor(form) else None
        outcome = passkeys.sign_in_options(
            db, vault_of(request), settings_of(request), login_challenge=challenge
        )
        return _options(request, outcome)

    def submit(
        request: Request,
        form: FormData = Depends(form_data),
        db: Session = Depends(db_session, scope="function"),
    ) -> Response:
        """Finish it: refused passkeys are throttled and audited like wrong codes."""
        fmt = formatter(request)
        second = _second_factor(form)
        challenge = request.cookies.get(kind.cookie, "") if second else None
        if second and not challenge:
            return redirect(f"{kind.path}?reason=restart")
        credential = text(form, "credential", passkeys.MAX_CREDENTIAL_JSON)
        errors = FormErrors()
        outcome = None
        if credential:
            who = kind.identify(fmt, form, FormErrors())  # the kind only (regulator ticked)
            outcome = passkeys.sign_in(
                db, vault_of(request), settings_of(request), who.kind,
                request.cookies.get(passkeys.COOKIE, ""), credential, login_challenge=challenge,
                client=client_address(request), request_id=rid(request),
            )  # fmt: skip
        if outcome is not None and outcome.value is not None:
            return _end_ceremony(open_session(request, kind, db, outcome.value))
        error = outcome.error if outcome is not None else None
        errors.add(
            None, messages.describe(error, fmt) if error else fmt.gettext(NO_BROWSER_SUPPORT)
        )
        status = error.status_code if error else 400
        page = (
            code_page(request, kind, errors, status)
            if second
            else login_page(request, kind, errors, status=status)
        )
        return _end_ceremony(with_retry_after(page, error))

    router.add_api_route(
        f"{kind.path}/passkey/options", options, methods=["POST"],
        name=f"{kind.name}_passkey_options", dependencies=[public()],
    )  # fmt: skip
    router.add_api_route(
        f"{kind.path}/passkey", submit, methods=["POST"], name=f"{kind.name}_passkey",
        dependencies=[public()],
    )  # fmt: skip


login_routes(router, HOLDER_LOGIN)
login_routes(router, PRO_LOGIN)
