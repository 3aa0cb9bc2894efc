"""Contacts and wishes: emergency contacts, trusted person, organ donation, advance directives.

Read and written through `accounts.wishes` (sealed under the holder's key, every read and change
audited, ACC-8) on the space acted on; the models of `accounts.family.schemas` validate.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from carnet.accounts import wishes
from carnet.accounts.family.schemas import EMERGENCY_CONTACT, SINGLE_KINDS
from carnet.auth import sessions as sessions
from carnet.errors import CarnetError, NotFound
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import (
    WISHES_READ,
    WISHES_UPDATE,
    Acting,
    acting_page,
    new_router,
    text,
)
from carnet.portal.web import FormErrors, formatter, redirect, vault_of

router = new_router()

FIELDS: dict[str, tuple[str, ...]] = {
    EMERGENCY_CONTACT: ("name", "relation", "phone", "email"),
    "trusted_person": ("name", "phone", "email", "address"),
    "organ_donation": ("choice", "note"),
    "advance_directives": ("has_directives", "where_kept", "text"),
}
OPTIONAL = frozenset({"phone", "email"})


def _page(
    act: Acting,
    *,
    errors: FormErrors | None = None,
    posted: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    request, db = act.request, act.db
    fmt = formatter(request)
    found = wishes.list_wishes(db, vault_of(request), act.space, act.principal, act.relation)
    contacts = [w for w in found if w.kind == EMERGENCY_CONTACT]
    single = {w.kind: w for w in found if w.kind != EMERGENCY_CONTACT}
    return act.render(
        "contacts.html",
        {
            "contacts": contacts,
            "single": single,
            "posted": posted or {"key": "", "values": {}},
            "max_contacts": wishes.MAX_EMERGENCY_CONTACTS,
        },
        title=fmt.gettext(N_("Contacts and wishes")),
        errors=errors,
        status=status,
    )


@router.get("/contacts", name="portal_contacts")
def contacts_page(act: Acting = acting_page(WISHES_READ)) -> Response:
    return _page(act)


def _data(kind: str, form: FormData) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in FIELDS[kind]:
        value = text(form, name, 20_000).strip()
        if name == "has_directives":
            data[name] = value == "yes" if value in ("yes", "no") else None
        elif name in OPTIONAL:
            data[name] = value or None
        else:
            data[name] = value
    return data


def _save(
    request: Request,
    act: Acting,
    key: str,
    kind: str,
    form: FormData,
    work: Any,
) -> Response:
    fmt = formatter(request)
    db = act.db
    data = _data(kind, form)
    try:
        work(act, data)
    except CarnetError as exc:
        if isinstance(exc, NotFound):
            raise
        db.rollback()
        errors = FormErrors()
        field = (exc.field or "").split(".")[0]
        message = (
            fmt.gettext(messages.FIELD_MESSAGES[field])
            if exc.code == "invalid-input" and field in messages.FIELD_MESSAGES
            else messages.describe(exc, fmt)
        )
        errors.add(f"{key}-{field}" if field in FIELDS[kind] else None, message)
        posted = {"key": key, "values": {k: ("" if v is None else v) for k, v in data.items()}}
        return _page(
            act.again(WISHES_READ),
            errors=errors,
            posted=posted,
            status=exc.status_code,
        )
    sessions.set_flash(db, act.live, "wish-saved")
    return redirect(f"/contacts#{key}")


@router.post("/contacts/emergency", name="portal_contact_add")
def add_contact(
    request: Request,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(WISHES_UPDATE),
) -> Response:
    vault = vault_of(request)

    def work(act: Acting, data: dict[str, Any]) -> None:
        wishes.add_emergency_contact(act.db, vault, act.space, data, act.principal, act.relation)

    return _save(request, act, "new", EMERGENCY_CONTACT, form, work)


@router.post("/contacts/emergency/{wish_id}", name="portal_contact_update")
def update_contact(
    request: Request,
    wish_id: uuid.UUID,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(WISHES_UPDATE),
) -> Response:
    vault = vault_of(request)

    def work(act: Acting, data: dict[str, Any]) -> None:
        wishes.update_emergency_contact(
            act.db, vault, act.space, wish_id, data, act.principal, act.relation
        )

    return _save(request, act, f"c{wish_id.hex[:12]}", EMERGENCY_CONTACT, form, work)


@router.post("/contacts/wish/{kind}", name="portal_wish_put")
def put_wish(
    request: Request,
    kind: str,
    form: FormData = Depends(form_data),
    act: Acting = acting_page(WISHES_UPDATE),
) -> Response:
    if kind not in SINGLE_KINDS:
        raise NotFound("No such contact or wish.")
    vault = vault_of(request)

    def work(act: Acting, data: dict[str, Any]) -> None:
        wishes.put_single(act.db, vault, act.space, kind, data, act.principal, act.relation)

    return _save(request, act, kind, kind, form, work)


@router.post("/contacts/remove/{wish_id}", name="portal_wish_delete")
def delete_wish(wish_id: uuid.UUID, act: Acting = acting_page(WISHES_UPDATE)) -> Response:
    """Sent twice, the second time finds nothing and says it is removed."""
    try:
        wishes.delete_wish(act.db, act.space, wish_id, act.principal, act.relation)
    except NotFound:
        act.db.rollback()
    sessions.set_flash(act.db, act.live, "wish-deleted")
    return redirect("/contacts")
