"""Contacts and wishes: emergency contacts, trusted person, organ donation, advance directives.

Each is a `HolderWish` row whose JSON content is sealed under the holder's data key, bound to that
row and the purpose "wish": the database holds only the kind in clear, a ciphertext copied onto
another row does not open, and purging the space (key destroyed, rule LC-8) makes it unreadable.
Every read and change is audited (ACC-8) with ids and kinds only, never the content.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access import notices
from carnet.access.rules import decide_contacts_read
from carnet.access.service import actor_for, space_facts
from carnet.accounts.family.relations import Relation, audit_mode
from carnet.accounts.family.schemas import EMERGENCY_CONTACT, SINGLE_KINDS, WISH_MODELS
from carnet.accounts.models import Holder, HolderWish
from carnet.accounts.purge import register_purge_hook
from carnet.audit.service import record
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.db import new_id
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound
from carnet.vault.service import Vault

PURPOSE = "wish"
# A Carnet safety limit (not a rule of rules.md): a list of whom to call stays short.
MAX_EMERGENCY_CONTACTS = 10


@dataclass(frozen=True)
class Wish:
    """A contact or wish, opened."""

    id: uuid.UUID
    kind: str
    content: dict[str, Any]
    updated_at: dt.datetime
    updated_by: str


def validate(kind: str, data: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    """The content checked against its kind's model, as stored (InvalidInput when wrong)."""
    model = WISH_MODELS.get(kind)
    if model is None:
        known = ", ".join(WISH_MODELS)
        raise InvalidInput(f"Unknown kind {kind!r}; expected one of: {known}.", field="kind")
    raw = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    try:
        return model.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise InvalidInput(f"{where}: {first.get('msg', 'invalid value')}", field=where) from None


def _open(session: Session, vault: Vault, row: HolderWish) -> Wish:
    text = vault.unseal_text(session, row.holder_id, row.id, PURPOSE, row.sealed)
    return Wish(row.id, row.kind, json.loads(text), row.updated_at, row.updated_by)


def _seal(session: Session, vault: Vault, row: HolderWish, content: dict[str, Any]) -> None:
    text = json.dumps(content, ensure_ascii=False, sort_keys=True)
    row.sealed = vault.seal_text(session, row.holder_id, row.id, PURPOSE, text)


def _audit(
    session: Session,
    actor: Principal,
    action: str,
    holder: Holder,
    relation: Relation,
    target_id: uuid.UUID | None = None,
    kind: str | None = None,
) -> None:
    record(
        session,
        actor,
        action,
        holder_id=holder.id,
        target_type="HolderWish",
        target_id=str(target_id) if target_id else None,
        mode=audit_mode(relation),
        reason=kind,  # the kind only, never the content
    )


def list_wishes(
    session: Session, vault: Vault, holder: Holder, actor: Principal, relation: Relation = "self"
) -> list[Wish]:
    """Every contact and wish of `holder`, opened; the read is audited (ACC-8)."""
    rows = session.scalars(
        select(HolderWish)
        .where(HolderWish.holder_id == holder.id)
        .order_by(HolderWish.kind, HolderWish.updated_at, HolderWish.id)
    ).all()
    _audit(session, actor, "wishes.read", holder, relation)
    return [_open(session, vault, row) for row in rows]


def put_single(
    session: Session,
    vault: Vault,
    holder: Holder,
    kind: str,
    data: Mapping[str, Any] | BaseModel,
    actor: Principal,
    relation: Relation = "self",
) -> Wish:
    """Set the trusted person, organ donation or advance directives (one each), replacing any."""
    if kind not in SINGLE_KINDS:
        if kind == EMERGENCY_CONTACT:
            raise InvalidInput("Emergency contacts are several: add them one by one.", field="kind")
        validate(kind, data)  # raises the unknown-kind error
    content = validate(kind, data)
    row = session.scalars(
        select(HolderWish).where(HolderWish.holder_id == holder.id, HolderWish.kind == kind)
    ).first()
    created = row is None
    if row is None:
        row = HolderWish(id=new_id(), holder_id=holder.id, kind=kind)
    row.updated_at = clock.now()
    row.updated_by = actor.ref
    _seal(session, vault, row, content)
    if created:
        session.add(row)
    session.flush()
    _audit(
        session,
        actor,
        "wishes.create" if created else "wishes.update",
        holder,
        relation,
        row.id,
        kind,
    )
    return Wish(row.id, kind, content, row.updated_at, row.updated_by)


def add_emergency_contact(
    session: Session,
    vault: Vault,
    holder: Holder,
    data: Mapping[str, Any] | BaseModel,
    actor: Principal,
    relation: Relation = "self",
) -> Wish:
    """Add one emergency contact (several allowed, up to MAX_EMERGENCY_CONTACTS)."""
    content = validate(EMERGENCY_CONTACT, data)
    count = session.scalar(
        select(func.count())
        .select_from(HolderWish)
        .where(HolderWish.holder_id == holder.id, HolderWish.kind == EMERGENCY_CONTACT)
    )
    if (count or 0) >= MAX_EMERGENCY_CONTACTS:
        raise Conflict(
            f"At most {MAX_EMERGENCY_CONTACTS} emergency contacts: remove one first.",
            code="too-many-contacts",
        )
    row = HolderWish(
        id=new_id(),
        holder_id=holder.id,
        kind=EMERGENCY_CONTACT,
        updated_at=clock.now(),
        updated_by=actor.ref,
    )
    _seal(session, vault, row, content)
    session.add(row)
    session.flush()
    _audit(session, actor, "wishes.create", holder, relation, row.id, EMERGENCY_CONTACT)
    return Wish(row.id, EMERGENCY_CONTACT, content, row.updated_at, row.updated_by)


def _own_row(session: Session, holder: Holder, wish_id: uuid.UUID) -> HolderWish:
    row = session.get(HolderWish, wish_id)
    if row is None or row.holder_id != holder.id:
        raise NotFound("No such contact or wish.")
    return row


def update_emergency_contact(
    session: Session,
    vault: Vault,
    holder: Holder,
    wish_id: uuid.UUID,
    data: Mapping[str, Any] | BaseModel,
    actor: Principal,
    relation: Relation = "self",
) -> Wish:
    """Replace one emergency contact."""
    row = _own_row(session, holder, wish_id)
    if row.kind != EMERGENCY_CONTACT:
        raise NotFound("No such emergency contact.")
    content = validate(EMERGENCY_CONTACT, data)
    row.updated_at = clock.now()
    row.updated_by = actor.ref
    _seal(session, vault, row, content)
    session.flush()
    _audit(session, actor, "wishes.update", holder, relation, row.id, EMERGENCY_CONTACT)
    return Wish(row.id, row.kind, content, row.updated_at, row.updated_by)


def delete_wish(
    session: Session,
    holder: Holder,
    wish_id: uuid.UUID,
    actor: Principal,
    relation: Relation = "self",
) -> None:
    """Remove a contact or wish of `holder`; another holder's id is 404."""
    row = _own_row(session, holder, wish_id)
    kind = row.kind
    session.delete(row)
    session.flush()
    _audit(session, actor, "wishes.delete", holder, relation, wish_id, kind)


@register_purge_hook
def _purge_wishes(session: Session, _vault: Vault, holder_id: uuid.UUID) -> None:
    """LC-8: the rows go (their content was already unreadable once the key is destroyed)."""
    session.execute(delete(HolderWish).where(HolderWish.holder_id == holder_id))


CONTACT_KINDS = (EMERGENCY_CONTACT, "trusted_person")
# ACC-7 names all four for professionals: emergency contacts, trusted person, organ donation,
# advance directives (the persons are `RelatedPerson`, the two wishes `Consent`, accounts.fhir).
SHARED_KINDS = (*CONTACT_KINDS, "organ_donation", "advance_directives")


def list_contacts(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    kinds: tuple[str, ...] = CONTACT_KINDS,
    request_id: str | None = None,
) -> list[Wish]:
    """The holder's contacts (emergency contacts, trusted person; with `kinds=SHARED_KINDS` the
    organ donation and advance directives wishes too) for whoever the decision point lets read
    them (ACC-7: the holder side, and professionals reaching the space); audited (ACC-8), refusals
    too (the caller commits before answering)."""
    actor = actor_for(session, settings, principal, holder)
    decision = decide_contacts_read(actor, space_facts(session, holder))
    reason = "contacts" if kinds == CONTACT_KINDS else "contacts-and-wishes"
    record(session, principal, "wishes.read" if decision else "wishes.read-denied",
           holder_id=holder.id, target_type="RelatedPerson" if kinds == CONTACT_KINDS
           else "HolderWish", mode=decision.mode,
           reason=reason if decision else decision.reason,
           request_id=request_id)  # fmt: skip
    if not decision:
        raise Forbidden("You may not read this patient's contacts.", code=decision.reason)
    rows = session.scalars(
        select(HolderWish)
        .where(HolderWish.holder_id == holder.id, HolderWish.kind.in_(kinds))
        .order_by(HolderWish.kind, HolderWish.updated_at, HolderWish.id)
    ).all()
    notices.after_read(session, settings, actor, holder, decision)
    return [_open(session, vault, row) for row in rows]


def read_contact(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    wish_id: uuid.UUID,
    *,
    request_id: str | None = None,
) -> tuple[Holder, Wish]:
    """One contact by id, under the same rule as `list_contacts`; 404 when it does not exist or
    the reader may not see it (existence is not leaked; the refusal is audited)."""
    row = session.get(HolderWish, wish_id)
    holder = session.get(Holder, row.holder_id) if row is not None else None
    if row is None or holder is None or row.kind not in CONTACT_KINDS:
        raise NotFound("No such contact.")
    actor = actor_for(session, settings, principal, holder)
    decision = decide_contacts_read(actor, space_facts(session, holder))
    record(session, principal, "wishes.read" if decision else "wishes.read-denied",
           holder_id=holder.id, target_type="RelatedPerson", target_id=str(row.id),
           mode=decision.mode, reason=row.kind if decision else decision.reason,
           request_id=request_id)  # fmt: skip
    if not decision:
        raise NotFound("No such contact.", code="not-found")
    notices.after_read(session, settings, actor, holder, decision)
    return holder, _open(session, vault, row)
