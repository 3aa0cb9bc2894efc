"""The profile sections of a holder's space: create, read, update, delete, history (issue 7).

Every entry's content is sealed under the holder's data key, bound to its row and the purpose
"profile" (each history version is sealed bound to its own row). Every read and change goes through
the decision point (`access.rules.decide_profile_read` / `decide_profile_write`, ACC-7) and is
audited (ACC-8) with ids, section names and codes only, never the content; refused ones too.
What the measurements give beyond their entries (BMI, targets, growth curves) is in
`profile.measurements`, on the same decision and audit helpers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access import notices
from carnet.access.rules import (
    Decision,
    decide_profile_read,
    decide_profile_write,
)
from carnet.access.service import SpaceContext, space_context
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.accounts.purge import register_purge_hook
from carnet.audit.service import record
from carnet.db import new_id
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound
from carnet.profile import rules
from carnet.profile.models import MeasurementTarget, ProfileEntry, ProfileEntryVersion
from carnet.profile.schemas import SECTION_MODELS
from carnet.vault.service import Vault

# One space context for every service working on a space (carnet.access.service).
Context = SpaceContext
context = space_context

PURPOSE = "profile"
TARGET = "ProfileEntry"


@dataclass(frozen=True)
class Entry:
    """A profile entry, opened."""

    id: uuid.UUID
    section: str
    content: dict[str, Any]
    effective_date: dt.date | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True)
class Version:
    version: int
    change: str
    content: dict[str, Any]
    changed_at: dt.datetime
    changed_by: str
    changed_as: str


def section_name(text: str) -> str:
    """A section as given in a URL (`hospital-stay` or `hospital_stay`), checked (404 if unknown)."""
    name = text.strip().lower().replace("-", "_")
    if name not in SECTION_MODELS:
        raise NotFound(
            f"Unknown profile section {text!r}; expected one of: {', '.join(rules.SECTIONS)}."
        )
    return name


def validate(section: str, data: Mapping[str, Any] | BaseModel) -> tuple[dict[str, Any], Any]:
    """The content checked against its section's model (InvalidInput naming the field when wrong)."""
    model = SECTION_MODELS[section]
    raw = data.model_dump(by_alias=True) if isinstance(data, BaseModel) else dict(data)
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or section
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise InvalidInput(
            f"{where}: {message}" if where != section else message, field=where
        ) from None
    return parsed.model_dump(mode="json", by_alias=True), parsed


# -- sealing -----------------------------------------------------------------------------------


def dump(content: Mapping[str, Any]) -> str:
    """The text sealed for a content: stable key order, so equal contents seal equal texts."""
    return json.dumps(content, ensure_ascii=False, sort_keys=True)


def _open(ctx: Context, row: ProfileEntry) -> Entry:
    text = ctx.vault.unseal_text(ctx.session, row.holder_id, row.id, PURPOSE, row.sealed)
    return Entry(
        row.id,
        row.section,
        json.loads(text),
        row.effective_date,
        row.version,
        row.created_at,
        row.updated_at,
        row.updated_by,
    )


# -- decisions and audit -----------------------------------------------------------------------


def audit(
    ctx: Context,
    action: str,
    decision: Decision,
    *,
    target_id: uuid.UUID | None = None,
    reason: str | None = None,
    target_type: str = TARGET,
) -> None:
    """ACC-8: one entry per read or change of the profile, in the mode the decision gave."""
    record(
        ctx.session,
        ctx.principal,
        action,
        holder_id=ctx.holder.id,
        target_type=target_type,
        target_id=str(target_id) if target_id else None,
        mode=decision.mode,
        reason=reason,  # section names and decision codes only, never content
        request_id=ctx.request_id,
    )


def _refuse(ctx: Context, action: str, decision: Decision, section: str | None) -> Forbidden:
    audit(ctx, f"{action}-denied", decision, reason=f"{section or 'all'}:{decision.reason}"[:64])
    if decision.reason == "private-to-holder-side":
        what = f"The {section} section is" if section else "These sections are"
        message = f"{what} private to the holder and those acting for them (ACC-7)."
    elif decision.reason == "space-not-open":
        message = "This space is not open."
    else:
        message = "You may not access this patient's profile."
    return Forbidden(message, code=decision.reason)


def may_write(ctx: Context, section: str, interaction: str = "u") -> Decision:
    """ACC-7, ACC-9: `interaction` (c, u, d) is what an app's scopes must name."""
    decision = decide_profile_write(ctx.actor, ctx.space, section, interaction)
    if not decision:
        raise _refuse(ctx, "profile.write", decision, section)
    return decision


def may_read(ctx: Context, section: str, interaction: str = "s") -> Decision:
    """ACC-7: the decision to read `section`, or a refusal raised (and audited)."""
    decision = decide_profile_read(ctx.actor, ctx.space, section, interaction)
    if not decision:
        raise _refuse(ctx, "profile.read", decision, section)
    return decision


# -- reads -------------------------------------------------------------------------------------


def _rows(ctx: Context, sections: Iterable[str]) -> list[ProfileEntry]:
    wanted = list(sections)
    if not wanted:
        return []
    return list(
        ctx.session.scalars(
            select(ProfileEntry)
            .where(
                ProfileEntry.holder_id == ctx.holder.id,
                ProfileEntry.section.in_(wanted),
                ProfileEntry.deleted_at.is_(None),
            )
            .order_by(
                ProfileEntry.effective_date.desc(),
                ProfileEntry.created_at.desc(),
                ProfileEntry.id,
            )
        )
    )


def readable_sections(ctx: Context) -> list[str]:
    """The sections the actor may read (ACC-7), without auditing."""
    return [s for s in rules.SECTIONS if decide_profile_read(ctx.actor, ctx.space, s)]


def read_profile(ctx: Context, sections: Iterable[str] | None = None) -> dict[str, list[Entry]]:
    """Every readable section (or those asked), entries newest first; one audit entry.

    A professional gets only what ACC-7 allows; one who reaches nothing is refused (403, audited).
    """
    asked = list(sections) if sections is not None else list(rules.SECTIONS)
    allowed = [s for s in asked if decide_profile_read(ctx.actor, ctx.space, s)]
    if not allowed:
        first = asked[0] if len(asked) == 1 else None
        decision = decide_profile_read(ctx.actor, ctx.space, asked[0] if asked else "")
        raise _refuse(ctx, "profile.read", decision, first)
    decision = decide_profile_read(ctx.actor, ctx.space, allowed[0])
    found: dict[str, list[Entry]] = {s: [] for s in allowed}
    for row in _rows(ctx, allowed):
        found[row.section].append(_open(ctx, row))
    reason = allowed[0] if len(allowed) == 1 else ("all" if allowed == asked else "acc-7")
    audit(ctx, "profile.read", decision, reason=reason)
    notices.after_read(ctx.session, ctx.settings, ctx.actor, ctx.holder, decision)
    return found


def list_section(ctx: Context, section: str) -> list[Entry]:
    return read_profile(ctx, [section])[section]


def _own_row(ctx: Context, section: str, entry_id: uuid.UUID) -> ProfileEntry:
    row = ctx.session.get(ProfileEntry, entry_id)
    if (
        row is None
        or row.holder_id != ctx.holder.id
        or row.section != section
        or row.deleted_at is not None
    ):
        raise NotFound("No such profile entry.")
    return row


def get_entry(ctx: Context, section: str, entry_id: uuid.UUID) -> Entry:
    decision = may_read(ctx, section, "r")
    row = _own_row(ctx, section, entry_id)
    audit(ctx, "profile.read", decision, target_id=row.id, reason=section)
    return _open(ctx, row)


def history(ctx: Context, section: str, entry_id: uuid.UUID) -> list[Version]:
    """Every version of an entry, oldest first, with who made each change and as whom."""
    decision = may_read(ctx, section)
    row = ctx.session.get(ProfileEntry, entry_id)
    if row is None or row.holder_id != ctx.holder.id or row.section != section:
        raise NotFound("No such profile entry.")
    versions = ctx.session.scalars(
        select(ProfileEntryVersion)
        .where(ProfileEntryVersion.entry_id == row.id)
        .order_by(ProfileEntryVersion.version)
    ).all()
    audit(ctx, "profile.history", decision, target_id=row.id, reason=section)
    return [
        Version(
            v.version,
            v.change,
            json.loads(ctx.vault.unseal_text(ctx.session, row.holder_id, v.id, PURPOSE, v.sealed)),
            v.changed_at,
            v.changed_by,
            v.changed_as,
        )
        for v in versions
    ]


# -- changes -----------------------------------------------------------------------------------


def _seal_version(
    ctx: Context, row: ProfileEntry, change: str, text: str, when: dt.datetime
) -> None:
    version = ProfileEntryVersion(
        id=new_id(),
        entry_id=row.id,
        version=row.version,
        change=change,
        changed_at=when,
        changed_by=ctx.principal.ref,
        changed_as=ctx.actor.relation.value,
    )
    version.sealed = ctx.vault.seal_text(ctx.session, row.holder_id, version.id, PURPOSE, text)
    ctx.session.add(version)


def _apply(
    ctx: Context, row: ProfileEntry, section: str, parsed: Any, content: dict[str, Any]
) -> None:
    text = dump(content)
    row.sealed = ctx.vault.seal_text(ctx.session, row.holder_id, row.id, PURPOSE, text)
    row.effective_date = parsed.effective_date()
    row.code = rules.MEASURES[content["kind"]].loinc if section == rules.MEASUREMENT else None


def create_entry(ctx: Context, section: str, data: Mapping[str, Any] | BaseModel) -> Entry:
    decision = may_write(ctx, section, "c")
    content, parsed = validate(section, data)
    if section in rules.SINGLE_SECTIONS and _rows(ctx, [section]):
        raise Conflict(
            f"There is already a {section} entry: replace it with PUT.", code="already-set"
        )
    now = clock.now()
    row = ProfileEntry(
        id=new_id(),
        holder_id=ctx.holder.id,
        section=section,
        version=1,
        created_at=now,
        updated_at=now,
        updated_by=ctx.principal.ref,
    )
    _apply(ctx, row, section, parsed, content)
    ctx.session.add(row)
    ctx.session.flush()
    _seal_version(ctx, row, "create", dump(content), now)
    ctx.session.flush()
    audit(ctx, "profile.create", decision, target_id=row.id, reason=section)
    return _open(ctx, row)


def update_entry(
    ctx: Context,
    section: str,
    entry_id: uuid.UUID,
    data: Mapping[str, Any] | BaseModel,
    *,
    merge: bool = False,
) -> Entry:
    """Replace the content (a new version); with `merge`, only the fields given change (a FHIR
    lifestyle Observation carries one field of its entry)."""
    decision = may_write(ctx, section)
    row = _own_row(ctx, section, entry_id)
    if merge:
        current = json.loads(
            ctx.vault.unseal_text(ctx.session, row.holder_id, row.id, PURPOSE, row.sealed)
        )
        given = data.model_dump(by_alias=True) if isinstance(data, BaseModel) else dict(data)
        data = {**current, **given}
    content, parsed = validate(section, data)
    now = clock.now()
    row.version += 1
    row.updated_at = now
    row.updated_by = ctx.principal.ref
    _apply(ctx, row, section, parsed, content)
    _seal_version(ctx, row, "update", dump(content), now)
    ctx.session.flush()
    audit(ctx, "profile.update", decision, target_id=row.id, reason=section)
    return _open(ctx, row)


def delete_entry(ctx: Context, section: str, entry_id: uuid.UUID) -> None:
    """Soft delete: the entry disappears from every view; its history stays (who deleted it)."""
    decision = may_write(ctx, section, "d")
    row = _own_row(ctx, section, entry_id)
    now = clock.now()
    last = ctx.vault.unseal_text(ctx.session, row.holder_id, row.id, PURPOSE, row.sealed)
    row.version += 1
    row.updated_at = now
    row.updated_by = ctx.principal.ref
    row.deleted_at = now
    _seal_version(ctx, row, "delete", last, now)
    ctx.session.flush()
    audit(ctx, "profile.delete", decision, target_id=row.id, reason=section)


@register_purge_hook
def _purge_profile(session: Session, _vault: Vault, holder_id: uuid.UUID) -> None:
    """LC-8: the rows go (their content was already unreadable once the key is destroyed)."""
    session.execute(delete(MeasurementTarget).where(MeasurementTarget.holder_id == holder_id))
    ids = select(ProfileEntry.id).where(ProfileEntry.holder_id == holder_id)
    session.execute(delete(ProfileEntryVersion).where(ProfileEntryVersion.entry_id.in_(ids)))
    session.execute(delete(ProfileEntry).where(ProfileEntry.holder_id == holder_id))


def find_entry(
    session: Session, sections: Iterable[str], entry_id: uuid.UUID
) -> tuple[Holder, str] | None:
    """The space and section of a live entry of one of `sections` (to build the context of a
    read or write by id: a FHIR type may show several sections)."""
    row = session.get(ProfileEntry, entry_id)
    if row is None or row.section not in set(sections) or row.deleted_at is not None:
        return None
    holder = account_service.holder(session, row.holder_id)
    return (holder, row.section) if holder is not None else None
