"""The agenda of a holder's space (SRV-2): appointments and their reminders, the forecast prevention
calendar, the private iCalendar feed.

Appointments are entered by the holder side, by professionals of the care team, or by apps (the
decision point: `access.rules.decide_agenda_*`); their content is sealed under the holder's data
key (purpose "agenda"). Every read and change is audited (ACC-8) with ids and codes only;
refusals too. The prevention calendar is computed on each read from the birth date, the sex and
the vaccinations recorded in the profile (read through `profile.service`, hence audited there).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import (
    HOLDER_SIDE,
    Decision,
    Relation,
    decide_agenda_change,
    decide_agenda_read,
    decide_agenda_settings,
    decide_agenda_write,
)
from carnet.access.service import SpaceContext, space_context
from carnet.accounts import service as account_service
from carnet.accounts.purge import register_purge_hook
from carnet.agenda import prevention, rules
from carnet.agenda.models import PENDING, AgendaSettings, Appointment, Reminder
from carnet.agenda.schemas import AppointmentIn
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import new_id
from carnet.errors import Forbidden, InvalidInput, NotFound
from carnet.profile import rules as profile_rules
from carnet.profile import service as profile
from carnet.vault.service import Vault

# One space context for every service working on a space (carnet.access.service).
Context = SpaceContext
context = space_context

PURPOSE = "agenda"
TARGET = "Appointment"
_AUTHOR_KIND = {
    Relation.SELF: "holder",
    Relation.REPRESENTATIVE: "representative",
    Relation.CAREGIVER: "caregiver",
    Relation.PROFESSIONAL: "professional",
    Relation.APP: "app",
}


@dataclass(frozen=True)
class ReminderView:
    offset_minutes: int
    due_at: dt.datetime
    status: str


@dataclass(frozen=True)
class AppointmentView:
    """An appointment, opened."""

    id: uuid.UUID
    holder_id: uuid.UUID
    title: str
    start: dt.datetime
    end: dt.datetime
    timezone: str
    location: str
    professional: str
    notes: str
    reminders: tuple[ReminderView, ...]
    author_kind: str
    author_id: uuid.UUID
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# -- decisions and audit -----------------------------------------------------------------------


def _audit(
    ctx: Context,
    action: str,
    decision: Decision,
    *,
    target_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> None:
    record(
        ctx.session,
        ctx.principal,
        action,
        holder_id=ctx.holder.id,
        target_type=TARGET,
        target_id=str(target_id) if target_id else None,
        mode=decision.mode,
        reason=reason or decision.reason[:64],
        request_id=ctx.request_id,
    )


def _check(ctx: Context, action: str, decision: Decision) -> Decision:
    """Refusals are audited (ACC-8) and said without telling what the agenda holds."""
    if decision:
        return decision
    _audit(ctx, f"{action}-denied", decision)
    messages = {
        "space-not-open": "This space is not open.",
        "caregiver-forbidden": (
            "A caregiver cannot create or revoke the calendar link of the person they help."
        ),
        "care-team-only": "Only professionals of the patient's care team may add appointments.",
    }
    raise Forbidden(
        messages.get(decision.reason, "You may not use this patient's agenda."),
        code=decision.reason,
    )


# -- validation and sealing ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Valid:
    content: dict[str, str]
    start: dt.datetime
    end: dt.datetime
    timezone: str
    reminders: list[int]


def validate(
    ctx: Context, data: Mapping[str, Any] | BaseModel, *, is_new: bool, now: dt.datetime
) -> _Valid:
    """The body checked (SRV-2 bad input): 400 naming the field, never a half-written row."""
    raw = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    try:
        parsed = AppointmentIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "appointment"
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise InvalidInput(f"{where}: {message}", field=where) from None
    try:
        tz_name = parsed.timezone or ctx.settings.timezone
        tz = rules.zone(tz_name)
        start = rules.parse_instant(parsed.start, "start", tz)
        end = rules.parse_instant(parsed.end, "end", tz) if parsed.end else None
        when = rules.check_when(start, end, now, is_new=is_new)
        offsets = rules.reminder_offsets(parsed.reminders)
    except rules.Problem as problem:
        raise InvalidInput(f"{problem.field}: {problem.message}", field=problem.field) from None
    content = {
        "title": parsed.title,
        "location": parsed.location,
        "professional": parsed.professional,
        "notes": parsed.notes,
    }
    return _Valid(content, when.start, when.end, tz_name, offsets)


def _open(
    ctx: Context, row: Appointment, reminders: list[Reminder] | None = None
) -> AppointmentView:
    content = json.loads(
        ctx.vault.unseal_text(ctx.session, row.holder_id, row.id, PURPOSE, row.sealed)
    )
    if reminders is None:
        reminders = list(
            ctx.session.scalars(
                select(Reminder).where(Reminder.appointment_id == row.id).order_by(Reminder.due_at)
            )
        )
    return AppointmentView(
        id=row.id,
        holder_id=row.holder_id,
        title=content["title"],
        start=row.start_at,
        end=row.end_at,
        timezone=row.timezone,
        location=content.get("location", ""),
        professional=content.get("professional", ""),
        notes=content.get("notes", ""),
        reminders=tuple(ReminderView(r.offset_minutes, r.due_at, r.status) for r in reminders),
        author_kind=row.author_kind,
        author_id=row.author_id,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _apply(ctx: Context, row: Appointment, valid: _Valid) -> None:
    text = json.dumps(valid.content, ensure_ascii=False, sort_keys=True)
    row.sealed = ctx.vault.seal_text(ctx.session, row.holder_id, row.id, PURPOSE, text)
    row.start_at = valid.start
    row.end_at = valid.end
    row.timezone = valid.timezone


def _replace_reminders(ctx: Context, row: Appointment, offsets: list[int]) -> None:
    """Reminders follow the appointment: a change of time re-arms them all."""
    ctx.session.execute(delete(Reminder).where(Reminder.appointment_id == row.id))
    for offset in offsets:
        ctx.session.add(
            Reminder(
                id=new_id(),
                appointment_id=row.id,
                holder_id=row.holder_id,
                offset_minutes=offset,
                due_at=rules.reminder_due(row.start_at, offset),
                status=PENDING,
            )
        )


# -- appointments ------------------------------------------------------------------------------


def create(ctx: Context, data: Mapping[str, Any] | BaseModel) -> AppointmentView:
    decision = _check(ctx, "agenda.create", decide_agenda_write(ctx.actor, ctx.space))
    now = clock.now()
    valid = validate(ctx, data, is_new=True, now=now)
    if ctx.actor.relation is Relation.PROFESSIONAL and not valid.content["professional"]:
        pro = account_service.professional(ctx.session, ctx.principal.id)
        valid.content["professional"] = pro.name if pro is not None else ""
    row = Appointment(
        id=new_id(),
        holder_id=ctx.holder.id,
        author_kind=_AUTHOR_KIND.get(ctx.actor.relation, ctx.actor.relation.value),
        author_id=ctx.principal.id,
        version=1,
        created_at=now,
        updated_at=now,
    )
    _apply(ctx, row, valid)
    ctx.session.add(row)
    ctx.session.flush()
    _replace_reminders(ctx, row, valid.reminders)
    ctx.session.flush()
    _audit(ctx, "agenda.create", decision, target_id=row.id)
    return _open(ctx, row)


def _row(ctx: Context, appointment_id: uuid.UUID) -> Appointment:
    row = ctx.session.get(Appointment, appointment_id)
    if row is None or row.holder_id != ctx.holder.id:
        raise NotFound("No such appointment.")
    return row


def get(ctx: Context, appointment_id: uuid.UUID) -> AppointmentView:
    """One appointment; a refused read is 404 (its existence is not told) and audited."""
    row = _row(ctx, appointment_id)
    decision = decide_agenda_read(ctx.actor, ctx.space, row.author_kind, row.author_id, "r")
    if not decision:
        _audit(ctx, "agenda.read-denied", decision, target_id=row.id)
        raise NotFound("No such appointment.")
    _audit(ctx, "agenda.read", decision, target_id=row.id)
    return _open(ctx, row)


def list_appointments(
    ctx: Context,
    *,
    start_from: dt.datetime | None = None,
    start_min: dt.datetime | None = None,
    start_before: dt.datetime | None = None,
    limit: int | None = 500,
    action: str = "agenda.read",
) -> list[AppointmentView]:
    """Appointments by start, as the actor may read them (a professional: their own); audited.
    `start_from`: not over at that instant; `start_min`/`start_before`: bounds of the start;
    `limit` None: all of them (the export and `$everything`, SRV-5)."""
    decision = decide_agenda_read(ctx.actor, ctx.space)
    own = None
    if not decision:
        own = decide_agenda_read(ctx.actor, ctx.space, "professional", ctx.principal.id)
        if not own:
            _check(ctx, "agenda.read", decision)
        decision = own
    query = select(Appointment).where(Appointment.holder_id == ctx.holder.id)
    if own is not None:  # SRV-2: a professional reads the appointments they entered
        query = query.where(
            Appointment.author_kind == "professional",
            Appointment.author_id == ctx.principal.id,
        )
    if start_from is not None:
        query = query.where(Appointment.end_at > start_from)
    if start_min is not None:
        query = query.where(Appointment.start_at >= start_min)
    if start_before is not None:
        query = query.where(Appointment.start_at < start_before)
    rows = list(
        ctx.session.scalars(query.order_by(Appointment.start_at, Appointment.id).limit(limit))
    )
    reminders: dict[uuid.UUID, list[Reminder]] = {row.id: [] for row in rows}
    if rows:
        for reminder in ctx.session.scalars(
            select(Reminder)
            .where(Reminder.appointment_id.in_(list(reminders)))
            .order_by(Reminder.due_at)
        ):
            reminders[reminder.appointment_id].append(reminder)
    _audit(ctx, action, decision, reason=f"list:{len(rows)}")
    return [_open(ctx, row, reminders[row.id]) for row in rows]


def update(
    ctx: Context, appointment_id: uuid.UUID, data: Mapping[str, Any] | BaseModel
) -> AppointmentView:
    row = _row(ctx, appointment_id)
    decision = _check(
        ctx,
        "agenda.update",
        decide_agenda_change(ctx.actor, ctx.space, row.author_kind, row.author_id),
    )
    now = clock.now()
    valid = validate(ctx, data, is_new=False, now=now)
    if valid.start != row.start_at and valid.start < now:
        raise InvalidInput(
            "start: This date and time has passed: appointments are in the future.", field="start"
        )
    _apply(ctx, row, valid)
    row.version += 1
    row.updated_at = now
    _replace_reminders(ctx, row, valid.reminders)
    ctx.session.flush()
    _audit(ctx, "agenda.update", decision, target_id=row.id)
    return _open(ctx, row)


def delete_appointment(ctx: Context, appointment_id: uuid.UUID) -> None:
    row = _row(ctx, appointment_id)
    decision = _check(
        ctx,
        "agenda.delete",
        decide_agenda_change(ctx.actor, ctx.space, row.author_kind, row.author_id, "d"),
    )
    ctx.session.execute(delete(Reminder).where(Reminder.appointment_id == row.id))
    ctx.session.delete(row)
    ctx.session.flush()
    _audit(ctx, "agenda.delete", decision, target_id=appointment_id)


# -- settings and the prevention calendar --------------------------------------------------------


def agenda_settings(session: Session, holder_id: uuid.UUID) -> AgendaSettings:
    """The holder's switches (defaults when never set: prevention on, no feed); not added."""
    found = session.get(AgendaSettings, holder_id)
    return found or AgendaSettings(holder_id=holder_id, prevention=True)


@dataclass(frozen=True)
class SettingsView:
    """The holder's agenda switches as the holder side reads them (the feed's token is never
    readable: only whether one is active)."""

    prevention: bool
    feed_active: bool
    feed_created_at: dt.datetime | None
    updated_at: dt.datetime | None


def read_settings(ctx: Context) -> SettingsView:
    """SRV-2 switches, for the holder side only (the agenda is private to it); the export of all
    the holder's data (SRV-5) writes them."""
    _check(ctx, "agenda.settings-read", decide_agenda_read(ctx.actor, ctx.space))
    stored = agenda_settings(ctx.session, ctx.holder.id)
    return SettingsView(
        prevention=stored.prevention is not False,
        feed_active=stored.feed_token_hash is not None,
        feed_created_at=stored.feed_created_at,
        updated_at=stored.updated_at,
    )


def _stored_settings(ctx: Context) -> AgendaSettings:
    found = ctx.session.get(AgendaSettings, ctx.holder.id)
    if found is None:
        found = AgendaSettings(holder_id=ctx.holder.id, prevention=True, updated_at=clock.now())
        ctx.session.add(found)
    return found


def set_prevention(ctx: Context, enabled: bool) -> AgendaSettings:
    """SRV-2: the holder may switch the prevention calendar off (and on again)."""
    decision = _check(ctx, "agenda.settings", decide_agenda_settings(ctx.actor, ctx.space))
    stored = _stored_settings(ctx)
    stored.prevention = enabled
    stored.updated_at = clock.now()
    ctx.session.flush()
    _audit(ctx, "agenda.settings", decision, reason=f"prevention={'on' if enabled else 'off'}")
    return stored


def vaccinations(ctx: Context) -> list[prevention.Dose]:
    """The profile's vaccinations, read through the profile service (its decision and audit)."""
    pctx = profile.Context(
        ctx.session, ctx.vault, ctx.settings, ctx.holder, ctx.actor, ctx.space, ctx.request_id
    )
    doses = []
    for entry in profile.list_section(pctx, profile_rules.VACCINATION):
        content = entry.content
        try:
            day = dt.date.fromisoformat(str(content.get("date")))
        except ValueError:
            continue
        doses.append(prevention.Dose(day, str(content.get("vaccine", "")), content.get("code")))
    return doses


def prevention_items(ctx: Context, *, everything: bool = False) -> list[prevention.Item] | None:
    """SRV-2: the forecast, or None when the holder switched it off. By default what is due or
    overdue and what opens within the calendar's horizon; `everything` adds the done and past."""
    decision = decide_agenda_read(ctx.actor, ctx.space)
    _check(ctx, "agenda.prevention", decision)
    if not agenda_settings(ctx.session, ctx.holder.id).prevention:
        return None
    today = clock.today(ctx.settings.timezone)
    items = prevention.forecast(ctx.holder.birth_date, ctx.holder.sex, vaccinations(ctx), today)
    _audit(ctx, "agenda.prevention", decision, reason=prevention.calendar().version)
    return items if everything else prevention.visible(items, today)


# -- the iCalendar feed --------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_feed(ctx: Context) -> tuple[str, dt.datetime]:
    """A new secret feed token (any previous one stops working); only its hash is stored."""
    decision = _check(ctx, "agenda.feed", decide_agenda_settings(ctx.actor, ctx.space, feed=True))
    token = secrets.token_urlsafe(32)
    stored = _stored_settings(ctx)
    now = clock.now()
    stored.feed_token_hash = _token_hash(token)
    stored.feed_created_at = now
    stored.updated_at = now
    ctx.session.flush()
    _audit(ctx, "agenda.feed-create", decision)
    return token, now


def revoke_feed(ctx: Context) -> None:
    decision = _check(ctx, "agenda.feed", decide_agenda_settings(ctx.actor, ctx.space, feed=True))
    stored = _stored_settings(ctx)
    stored.feed_token_hash = None
    stored.feed_created_at = None
    stored.updated_at = clock.now()
    ctx.session.flush()
    _audit(ctx, "agenda.feed-revoke", decision)


def feed_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/ical/{token}.ics"


def feed_context(
    session: Session, vault: Vault, settings: Settings, token: str, request_id: str | None
) -> Context:
    """The space a feed token opens, read as the holder (the link is the holder's own delegated
    credential); an unknown or revoked token, or a space no longer open, is 404."""
    if not token or len(token) > 100:
        raise NotFound("No such calendar.")
    found = session.scalars(
        select(AgendaSettings).where(AgendaSettings.feed_token_hash == _token_hash(token))
    ).first()
    holder = account_service.holder(session, found.holder_id) if found is not None else None
    if holder is None:
        raise NotFound("No such calendar.")
    ctx = context(
        session,
        vault,
        settings,
        Principal(PrincipalKind.HOLDER, holder.id, "ical-feed"),
        holder,
        request_id,
    )
    if ctx.actor.relation not in HOLDER_SIDE or not decide_agenda_read(ctx.actor, ctx.space):
        raise NotFound("No such calendar.")
    return ctx


@register_purge_hook
def _purge_agenda(session: Session, _vault: Vault, holder_id: uuid.UUID) -> None:
    """LC-8: the rows go (their content was already unreadable once the key is destroyed)."""
    session.execute(delete(Reminder).where(Reminder.holder_id == holder_id))
    session.execute(delete(Appointment).where(Appointment.holder_id == holder_id))
    session.execute(delete(AgendaSettings).where(AgendaSettings.holder_id == holder_id))
