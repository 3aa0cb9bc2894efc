"""What the holder pages share: the space acted on, the layout's profile switcher, form values.

A page takes one parameter, its access rule: `acting_page(action)` hands it an `Acting` (the
holder's portal session, the space acted on resolved once for `action`), `visiting(rule)` a
`Visit` (a portal session, no space resolved). Both wrap `access.routes.portal_session` and count
as the route's one rule; they hand the page the request's unit of work (`http.db_session`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import portal_session, wrapping
from carnet.accounts import lifecycle
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.auth import sessions as sessions
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.errors import NotFound, kept
from carnet.http import db_session
from carnet.portal.routing import PortalRoute
from carnet.portal.web import FormErrors, PortalRedirect, Shell, render, settings_of, vault_of
from carnet.vault.service import Vault

# resolve_space actions, the same as the JSON API's (accounts.family.api, documents.api.common).
READ = "documents.read"
UPLOAD = "documents.upload"
CHANGE = "documents.change"
DELETE = "documents.delete"
ACCESS_SETTINGS = "change-access-settings"  # REP-4: not for caregivers
WISHES_READ = "wishes.read"
WISHES_UPDATE = "wishes.update"
CLOSE = "close"  # REP-4: not for caregivers


def new_router() -> APIRouter:
    return APIRouter(route_class=PortalRoute, include_in_schema=False)


HOLDER = portal_session(PrincipalKind.HOLDER)


@dataclass
class Visit:
    """A signed-in portal request as a page sees it: the request, its unit of work, the live
    portal session and its principal."""

    request: Request
    db: Session
    live: sessions.LiveSession
    principal: Principal

    @property
    def settings(self) -> Settings:
        return settings_of(self.request)

    @property
    def vault(self) -> Vault:
        return vault_of(self.request)

    @property
    def rid(self) -> str:
        return rid(self.request)


@dataclass
class Acting(Visit):
    """The signed-in holder and the space they act on (their own, or one they manage)."""

    me: Holder
    space: Holder
    relation: family.Relation
    shell: Shell

    @property
    def is_self(self) -> bool:
        return self.relation == "self"

    @property
    def may_change_access_settings(self) -> bool:
        return self.relation != "caregiver" or family.caregiver_may(ACCESS_SETTINGS)

    def render(
        self,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        title: str,
        errors: FormErrors | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        """`web.render` in the layout of the space acted on (its name, the profile switcher)."""
        return render(
            self.request,
            template,
            context,
            title=title,
            shell=self.shell,
            errors=errors,
            status=status,
        )

    def again(self, action: str = READ) -> Acting:
        """The space resolved anew, after a rollback (a refused form is shown again)."""
        return acting(self.request, self.db, action)


def acting_page(action: str = READ) -> Any:
    """The rule of a holder page: a holder's portal session (`portal_session`), then the space
    acted on for `action`, resolved once by `acting`. The page receives an `Acting`."""

    def _acting_page(
        request: Request,
        principal: Principal = HOLDER,
        db: Session = Depends(db_session, scope="function"),
    ) -> Acting:
        return acting(request, db, action)

    return wrapping(HOLDER, _acting_page)


def visiting(rule: Any = HOLDER) -> Any:
    """The rule `rule` (a `portal_session`), handing the page a `Visit`: for pages that act on
    no space of a holder's (invitations, logging out everywhere, the professional's pages)."""

    def _visiting(
        request: Request,
        principal: Principal = rule,
        db: Session = Depends(db_session, scope="function"),
    ) -> Visit:
        return Visit(request, db, request.state.portal_session, principal)

    return wrapping(rule, _visiting)


def acting(request: Request, db: Session, action: str = READ) -> Acting:
    """Resolve the acting space through `family.resolve_space` (REP-1…REP-5 decide).

    A space the holder no longer manages (majority reached, caregiving revoked) sends them back to
    their own space with a message; a forbidden action (REP-4) raises Forbidden.
    """
    live: sessions.LiveSession = request.state.portal_session
    principal = live.principal
    settings = settings_of(request)
    try:
        space, relation = family.resolve_space(
            db, principal, str(live.acting_space_id), action, settings=settings
        )
    except NotFound:
        if live.acting_space_id == principal.id:
            raise
        sessions.set_acting_space(db, live, principal.id)
        sessions.set_flash(db, live, "profile-reset")
        raise kept(PortalRedirect("/home")) from None  # the reset and its message stay
    me = lifecycle.get_holder(db, principal.id)
    managed = family.managed_spaces(db, me.id, settings=settings)
    profiles = [
        {
            "id": holder.id,
            "name": family.display_name(holder),
            "relation": rel,
            "current": holder.id == space.id,
        }
        for holder, rel in [(me, "self"), *managed]
    ]
    shell = Shell(
        signed_in=True,
        space_name=family.display_name(space),
        relation=relation,
        acting_space_id=space.id,
        profiles=profiles,
        show_close=relation in ("self", "representative"),  # LC-5, REP-1, REP-5
    )
    return Acting(request, db, live, principal, me, space, relation, shell)


def text(form: FormData, name: str, limit: int = 4000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def optional_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip()) if value.strip() else None
    except ValueError:
        return None


def parse_date(day: str, month: str, year: str) -> dt.date | None:
    try:
        return dt.date(int(year.strip()), int(month.strip()), int(day.strip()))
    except (ValueError, OverflowError):  # a year of twenty digits overflows the C integer
        return None


def rid(request: Request) -> str:
    from carnet.http import request_id

    return request_id(request)
