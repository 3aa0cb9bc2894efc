"""The profile sections of a holder's space: create, read, update, delete, history (issue 7).

Every entry's content is sealed under the holder's data key, bound to its row and the purpose
"profile" (each history version is sealed bound to its own row). Every read and change goes through
the decision point (`access.rules.decide_profile_read` / `decide_profile_write`, ACC-7) and is
audited (ACC-8) with ids, section names and codes only, never the content; refused ones too.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
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
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.accounts.purge import register_purge_hook
from carnet.audit.service import record
from carnet.db import new_id
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound
from carnet.profile import growth, rules
from carnet.profile.models import MeasurementTarget, ProfileEntry, ProfileEntryVersion
from carnet.profile.schemas import SECTION_MODELS, TargetIn
from carnet.vault.service import Vault

# One space context for every service working on a space (carnet.access.service).
Context = SpaceContext
context = space_context

PURPOSE = "profile"
TARGET = "ProfileEntry"
GOAL = "MeasurementTarget"  # audit target type of measurement targets


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


@dataclass(frozen=True)
class Bmi:
    """Derived from the latest weight and height, never stored."""

    value: float
    weight: Entry
    height: Entry
    date: dt.date


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


def _dump(content: Mapping[str, Any]) -> str:
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


def _audit(
    ctx: Context,
    action: str,
    decision: Decision,
    *,
    target_id: uuid.UUID | None = None,
    reason: str | None = None,
    target_type: str = TARGET,
) -> None:
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
    _audit(ctx, f"{action}-denied", decision, reason=f"{section or 'all'}:{decision.reason}"[:64])
    if decision.reason == "private-to-holder-side":
        what = f"The {section} section is" if section else "These sections are"
        message = f"{what} private to the holder and those acting for them (ACC-7)."
    elif decision.reason == "space-not-open":
        message = "This space is not open."
    else:
        message = "You may not access this patient's profile."
    return Forbidden(message, code=decision.reason)


def _may_write(ctx: Context, section: str, interaction: str = "u") -> Decision:
    """ACC-7, ACC-9: `interaction` (c, u, d) is what an app's scopes must name."""
    decision = decide_profile_write(ctx.actor, ctx.space, section, interaction)
    if not decision:
        raise _refuse(ctx, "profile.write", decision, section)
    return decision


def _may_read(ctx: Context, section: str, interaction: str = "s") -> Decision:
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
    _audit(ctx, "profile.read", decision, reason=reason)
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
    decision = _may_read(ctx, section, "r")
    row = _own_row(ctx, section, entry_id)
    _audit(ctx, "profile.read", decision, target_id=row.id, reason=section)
    return _open(ctx, row)


def history(ctx: Context, section: str, entry_id: uuid.UUID) -> list[Version]:
    """Every version of an entry, oldest first, with who made each change and as whom."""
    decision = _may_read(ctx, section)
    row = ctx.session.get(ProfileEntry, entry_id)
    if row is None or row.holder_id != ctx.holder.id or row.section != section:
        raise NotFound("No such profile entry.")
    versions = ctx.session.scalars(
        select(ProfileEntryVersion)
        .where(ProfileEntryVersion.entry_id == row.id)
        .order_by(ProfileEntryVersion.version)
    ).all()
    _audit(ctx, "profile.history", decision, target_id=row.id, reason=section)
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


def bmi(measurements: Iterable[Entry]) -> Bmi | None:
    """BMI from the latest weight and the latest height (issue 7: derived, not stored)."""
    latest: dict[str, Entry] = {}
    for entry in measurements:
        kind = entry.content.get("kind")
        if kind not in ("weight", "height"):
            continue
        known = latest.get(kind)
        key = (entry.effective_date or dt.date.min, entry.created_at)
        if known is None or key > (known.effective_date or dt.date.min, known.created_at):
            latest[kind] = entry
    weight, height = latest.get("weight"), latest.get("height")
    if weight is None or height is None:
        return None
    value = rules.bmi(float(weight.content["value"]), float(height.content["value"]))
    when = max(weight.effective_date or dt.date.min, height.effective_date or dt.date.min)
    return Bmi(value, weight, height, when)


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
    text = _dump(content)
    row.sealed = ctx.vault.seal_text(ctx.session, row.holder_id, row.id, PURPOSE, text)
    row.effective_date = parsed.effective_date()
    row.code = rules.MEASURES[content["kind"]].loinc if section == rules.MEASUREMENT else None


def create_entry(ctx: Context, section: str, data: Mapping[str, Any] | BaseModel) -> Entry:
    decision = _may_write(ctx, section, "c")
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
    _seal_version(ctx, row, "create", _dump(content), now)
    ctx.session.flush()
    _audit(ctx, "profile.create", decision, target_id=row.id, reason=section)
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
    decision = _may_write(ctx, section)
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
    _seal_version(ctx, row, "update", _dump(content), now)
    ctx.session.flush()
    _audit(ctx, "profile.update", decision, target_id=row.id, reason=section)
    return _open(ctx, row)


def delete_entry(ctx: Context, section: str, entry_id: uuid.UUID) -> None:
    """Soft delete: the entry disappears from every view; its history stays (who deleted it)."""
    decision = _may_write(ctx, section, "d")
    row = _own_row(ctx, section, entry_id)
    now = clock.now()
    last = ctx.vault.unseal_text(ctx.session, row.holder_id, row.id, PURPOSE, row.sealed)
    row.version += 1
    row.updated_at = now
    row.updated_by = ctx.principal.ref
    row.deleted_at = now
    _seal_version(ctx, row, "delete", last, now)
    ctx.session.flush()
    _audit(ctx, "profile.delete", decision, target_id=row.id, reason=section)


# -- measurement targets (issue 7) --------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    kind: str
    unit: str
    low: float | None
    high: float | None
    note: str
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True)
class TargetView:
    """A kind's target against its latest value (`status` None without a target or a value)."""

    kind: str
    unit: str
    target: Target | None
    latest_value: float | None
    latest_date: dt.date | None
    status: rules.TargetStatus | None


def _open_target(ctx: Context, row: MeasurementTarget) -> Target:
    content = json.loads(
        ctx.vault.unseal_text(ctx.session, row.holder_id, row.id, PURPOSE, row.sealed)
    )
    return Target(
        row.kind,
        rules.TARGET_KINDS[row.kind].unit,
        content.get("low"),
        content.get("high"),
        content.get("note", ""),
        row.updated_at,
        row.updated_by,
    )


def _target_row(ctx: Context, kind: str) -> MeasurementTarget | None:
    return ctx.session.scalars(
        select(MeasurementTarget).where(
            MeasurementTarget.holder_id == ctx.holder.id, MeasurementTarget.kind == kind
        )
    ).first()


def target_kind(text: str) -> str:
    """A kind as given in a URL (`heart-rate` or `heart_rate`), checked (404 if unknown)."""
    name = text.strip().lower().replace("-", "_")
    if name not in rules.TARGET_KINDS:
        raise NotFound(
            f"Unknown measurement kind {text!r}; expected one of: {', '.join(rules.TARGET_KINDS)}."
        )
    return name


def list_targets(ctx: Context) -> list[Target]:
    """The holder's targets, in the order of the kinds; part of the measurements (ACC-7)."""
    decision = _may_read(ctx, rules.MEASUREMENT)
    rows = ctx.session.scalars(
        select(MeasurementTarget).where(MeasurementTarget.holder_id == ctx.holder.id)
    ).all()
    _audit(ctx, "profile.read", decision, reason="targets", target_type=GOAL)
    order = list(rules.TARGET_KINDS)
    return sorted((_open_target(ctx, r) for r in rows), key=lambda t: order.index(t.kind))


def set_target(ctx: Context, kind: str, data: Mapping[str, Any] | BaseModel) -> Target:
    """Create or replace the target of `kind`; impossible bounds are refused (400, nothing kept)."""
    decision = _may_write(ctx, rules.MEASUREMENT)
    raw = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    try:
        parsed = TargetIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "target"
        raise InvalidInput(f"{where}: {first.get('msg', 'invalid value')}", field=where) from None
    measure = rules.TARGET_KINDS[kind]
    if parsed.unit not in (None, "") and parsed.unit != measure.unit:
        raise InvalidInput(
            f"The unit of {kind} is {measure.unit} (UCUM), not {parsed.unit!r}.", field="unit"
        )
    problem = rules.target_problem(kind, parsed.low, parsed.high)
    if problem:
        raise InvalidInput(problem, field="target")
    text = _dump({"low": parsed.low, "high": parsed.high, "note": parsed.note})
    now = clock.now()
    row = _target_row(ctx, kind)
    if row is None:
        row = MeasurementTarget(
            id=new_id(),
            holder_id=ctx.holder.id,
            kind=kind,
            created_at=now,
            updated_at=now,
            updated_by=ctx.principal.ref,
        )
        row.sealed = ctx.vault.seal_text(ctx.session, row.holder_id, row.id, PURPOSE, text)
        ctx.session.add(row)  # sealed first: the row is never flushed without its content
    else:
        row.sealed = ctx.vault.seal_text(ctx.session, row.holder_id, row.id, PURPOSE, text)
    row.updated_at = now
    row.updated_by = ctx.principal.ref
    ctx.session.flush()
    _audit(ctx, "profile.update", decision, target_id=row.id, reason=f"target:{kind}",
           target_type=GOAL)  # fmt: skip
    return _open_target(ctx, row)


def delete_target(ctx: Context, kind: str) -> None:
    decision = _may_write(ctx, rules.MEASUREMENT)
    row = _target_row(ctx, kind)
    if row is None:
        raise NotFound("No target for this measurement.")
    ctx.session.delete(row)
    ctx.session.flush()
    _audit(ctx, "profile.delete", decision, target_id=row.id, reason=f"target:{kind}",
           target_type=GOAL)  # fmt: skip


def latest_values(measurements: Sequence[Entry]) -> dict[str, tuple[float, dt.date | None]]:
    """The latest value of each measured kind, plus the derived BMI."""
    latest: dict[str, Entry] = {}
    for entry in measurements:
        kind = str(entry.content.get("kind"))
        known = latest.get(kind)
        key = (entry.effective_date or dt.date.min, entry.created_at)
        if known is None or key > (known.effective_date or dt.date.min, known.created_at):
            latest[kind] = entry
    found = {k: (float(e.content["value"]), e.effective_date) for k, e in latest.items()}
    derived = bmi(measurements)
    if derived is not None:
        found[rules.BMI.name] = (derived.value, derived.date)
    return found


def targets_against_latest(
    ctx: Context, measurements: list[Entry] | None = None
) -> list[TargetView]:
    """Every kind that has a target or a value, its target against its latest value. Reads the
    measurements through the decision point unless given (already read and audited)."""
    if measurements is None:
        measurements = list_section(ctx, rules.MEASUREMENT)
    targets = {t.kind: t for t in list_targets(ctx)}
    latest = latest_values(measurements)
    views = []
    for kind, measure in rules.TARGET_KINDS.items():
        target, value = targets.get(kind), latest.get(kind)
        if target is None and value is None:
            continue
        status = (
            rules.target_status(value[0], target.low, target.high)
            if target is not None and value is not None
            else None
        )
        views.append(
            TargetView(kind, measure.unit, target, value[0] if value else None,
                       value[1] if value else None, status)
        )  # fmt: skip
    return views


# -- growth curves (issue 7) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    reference: growth.Reference | None
    charts: list[growth.Curves]


def is_child(ctx: Context) -> bool:
    """Growth curves are for minors (REP-3's majority age)."""
    today = clock.today(ctx.settings.timezone)
    return account_rules.is_minor(ctx.holder.birth_date, today, ctx.settings.majority_age)


def growth_charts(
    ctx: Context, reference: growth.Reference | None, measurements: list[Entry] | None = None
) -> Growth:
    """The child's weight, height, head circumference and BMI against the reference (each
    indicator the child has points for). Reads the measurements through
    the decision point unless given (already read and audited by the caller)."""
    if measurements is None:
        measurements = list_section(ctx, rules.MEASUREMENT)
    birth = ctx.holder.birth_date
    found = growth.child_points(
        birth,
        [
            (e.effective_date, str(e.content["kind"]), float(e.content["value"]))
            for e in measurements
            if e.effective_date is not None
        ],
    )
    today_age = growth.age_in_days(birth, clock.today(ctx.settings.timezone))
    sex = ctx.holder.sex.upper()
    charts = [
        growth.curves(reference, indicator, sex, found[indicator], today_age)
        for indicator in growth.INDICATORS
        if found[indicator]
    ]
    return Growth(reference, charts)


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
