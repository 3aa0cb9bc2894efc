"""The reminder job (SRV-2): e-mails the reminders that came due, on every jobs pass.

Registered on import; the registry imports it (domains in alphabetical order) before the outbox's
delivery job, so a reminder queued in a pass leaves in the same pass. Idempotent: a reminder is
handled once (`sent` or `skipped`), so a second pass, or `carnet jobs run --as-of` the same day,
sends nothing more. The e-mail is neutral: that there is an appointment, and when; never its title,
place, professional or notes (they can say what the holder suffers from).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_time
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.family.relations import representative_emails
from carnet.accounts.models import Holder
from carnet.accounts.rules import LIVE_STATES
from carnet.agenda.models import PENDING, SENT, SKIPPED, Appointment, Reminder
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.jobs.service import JobContext, job
from carnet.notifications.service import enqueue

BATCH = 500
KIND = "agenda.reminder"
SUBJECT = "Rappel de rendez-vous – Carnet"


def recipients(session: Session, settings: Settings, holder: Holder) -> list[str]:
    """The holder, or a minor's accepted representatives (REP-1)."""
    today = clock.today(settings.timezone)
    if account_rules.is_minor(holder.birth_date, today, settings.majority_age):
        return representative_emails(session, holder.id)
    return [holder.email] if holder.email else []


def reminder_body(
    settings: Settings, start: dt.datetime, timezone: str, now: dt.datetime, *, for_self: bool
) -> str:
    """When, in the appointment's time zone, and where to look: nothing else."""
    tz = ZoneInfo(timezone)
    local = start.astimezone(tz)
    days = (local.date() - now.astimezone(tz).date()).days
    hour = format_time(local, "HH:mm", locale="fr_FR")
    if days == 0:
        when = f"aujourd'hui à {hour}"
    elif days == 1:
        when = f"demain à {hour}"
    else:
        when = format_datetime(local, "'le' EEEE d MMMM y 'à' HH:mm", locale="fr_FR")
    who = (
        "Vous avez un rendez-vous"
        if for_self
        else ("Un rendez-vous est prévu dans un espace santé Carnet que vous suivez,")
    )
    zone_note = "" if timezone == "Europe/Paris" else f" ({timezone})"
    return (
        f"Bonjour,\n\n{who} {when}{zone_note}.\n"
        f"Le détail est dans votre espace : {settings.base_url.rstrip('/')}/agenda\n"
    )


def send_due(session: Session, settings: Settings, now: dt.datetime, *, limit: int = BATCH) -> int:
    """Queue the e-mails of the reminders due at `now`; returns reminders handled."""
    rows = session.execute(
        select(Reminder, Appointment, Holder)
        .join(Appointment, Appointment.id == Reminder.appointment_id)
        .join(Holder, Holder.id == Reminder.holder_id)
        .where(Reminder.status == PENDING, Reminder.due_at <= now)
        .order_by(Reminder.due_at, Reminder.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Reminder)
    ).all()
    for reminder, appointment, holder in rows:
        if (
            appointment.start_at <= now
            or holder.state not in LIVE_STATES
            or not account_service.wants_notice(session, holder.id, "appointments")
        ):  # past, a space no longer live, or reminders switched off in "Mon compte"
            reminder.status = SKIPPED
            reminder.sent_at = now
            continue
        emails = recipients(session, settings, holder)
        for email in emails:
            enqueue(
                session,
                kind=KIND,
                recipient=email,
                subject=SUBJECT,
                body_text=reminder_body(
                    settings,
                    appointment.start_at,
                    appointment.timezone,
                    now,
                    for_self=email == holder.email,
                ),
                holder_id=holder.id,
            )
        reminder.status = SENT
        reminder.sent_at = now
        record(
            session,
            SYSTEM,
            "agenda.reminder",
            holder_id=holder.id,
            target_type="Appointment",
            target_id=str(appointment.id),
            reason=f"recipients={len(emails)}",
        )
    session.flush()
    return len(rows)


@job("agenda.reminders", period="always")
def reminders(ctx: JobContext) -> str:
    """SRV-2: reminders at the chosen time (to within one jobs interval)."""
    handled = 0
    while True:
        with ctx.database.transaction() as session:
            done = send_due(session, ctx.settings, ctx.now)
        handled += done
        if done < BATCH:
            break
    return f"{handled} reminder(s) handled"
