"""The DOC-4 announcement job: a document deposited invisible to the patient until an announcement
consultation is announced to the holder (never what it is), then becomes visible after one month.

Registered on import; its domain declares it (`domain.py`). Idempotent: each step
sets its own timestamp on the document, and a second run finds nothing left to do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from carnet.accounts.models import Holder
from carnet.accounts.rules import LIVE_STATES
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.documents import deposits
from carnet.documents import rules as doc_rules
from carnet.documents.models import Document
from carnet.jobs.service import JobContext, job
from carnet.notifications.service import enqueue

BATCH = 500

AWAITING_KIND = "document.awaiting"
AWAITING_SUBJECT = "Un document vous attend dans votre espace Carnet"


def _awaiting_body(settings: Settings, visible_from: dt.datetime) -> str:
    """DOC-4: that a document awaits, and the latest day it shows; never its title, type or author
    (a specialty alone can say too much)."""
    day = visible_from.astimezone(ZoneInfo(settings.timezone)).strftime("%d/%m/%Y")
    return (
        "Un professionnel de santé a déposé un document dans un espace santé Carnet que vous "
        "suivez. Il vous sera présenté lors d'une consultation d'annonce et deviendra visible "
        f"au plus tard le {day}.\n"
        f"Votre espace : {settings.base_url}."
    )


def announce_awaiting(
    session: Session, settings: Settings, now: dt.datetime, *, limit: int = BATCH
) -> int:
    """DOC-4 (a): tell the holder (a minor's representatives, unless the document is invisible to
    them, REP-2) that a document awaits, once, at the first run after the deposit — well within the
    2 weeks of `ANNOUNCEMENT_NOTICE_DELAY` while the daily jobs run. Returns documents handled."""
    rows = _hidden_documents(
        session,
        Document.visible_to_patient_from > now,
        Document.awaiting_notice_sent_at.is_(None),
        order=Document.deposited_at,
        limit=limit,
    )
    for doc, holder in rows:
        assert doc.visible_to_patient_from is not None
        recipients = deposits.notice_recipients(session, settings, holder, doc)
        for email in recipients:
            enqueue(
                session,
                kind=AWAITING_KIND,
                recipient=email,
                subject=AWAITING_SUBJECT,
                body_text=_awaiting_body(settings, doc.visible_to_patient_from),
                holder_id=holder.id,
            )
        doc.awaiting_notice_sent_at = now
        late = now - doc.deposited_at > doc_rules.ANNOUNCEMENT_NOTICE_DELAY
        record(
            session,
            SYSTEM,
            "document.awaiting-notice",
            holder_id=holder.id,
            target_type="DocumentReference",
            target_id=str(doc.id),
            reason=f"recipients={len(recipients)}" + (",late" if late else ""),
        )
    session.flush()
    return len(rows)


def release_due(
    session: Session, settings: Settings, now: dt.datetime, *, limit: int = BATCH
) -> int:
    """DOC-4 (b): one month after the deposit the document becomes visible (the decision point
    already shows it from `visible_to_patient_from`); the flag is cleared and the DOC-7 notice
    sent, once. Returns documents released."""
    rows = _hidden_documents(
        session,
        Document.visible_to_patient_from <= now,
        Document.visible_notice_sent_at.is_(None),
        order=Document.visible_to_patient_from,
        limit=limit,
    )
    for doc, holder in rows:
        doc.invisible_to_patient = False
        doc.updated_at = now
        sent = deposits.notify_new_document(session, settings, holder, doc)  # DOC-7
        doc.visible_notice_sent_at = now
        record(
            session,
            SYSTEM,
            "document.released",
            holder_id=holder.id,
            target_type="DocumentReference",
            target_id=str(doc.id),
            reason=f"announcement-delay,recipients={sent}",
        )
    session.flush()
    return len(rows)


def _hidden_documents(
    session: Session,
    *where: ColumnElement[bool],
    order: InstrumentedAttribute[dt.datetime] | InstrumentedAttribute[dt.datetime | None],
    limit: int,
) -> Sequence[Row[Document, Holder]]:
    """Current documents of live spaces still invisible to the patient (DOC-4) that match `where`,
    with their holder, locked for this run (another run skips them)."""
    return session.execute(
        select(Document, Holder)
        .join(Holder, Holder.id == Document.holder_id)
        .where(
            Document.invisible_to_patient.is_(True),
            Document.visible_to_patient_from.is_not(None),
            *where,
            Document.status == "current",
            Holder.state.in_(LIVE_STATES),
        )
        .order_by(order, Document.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Document)
    ).all()


@job("documents.announcements", period="daily")
def announcements(ctx: JobContext) -> str:
    """DOC-4: announce awaiting documents, release those whose month has passed (DOC-7 notice)."""
    told = _in_batches(ctx, announce_awaiting)
    released = _in_batches(ctx, release_due)
    return f"{told} awaiting document(s) announced, {released} released"


def _in_batches(ctx: JobContext, step: Callable[[Session, Settings, dt.datetime], int]) -> int:
    """Run `step` one batch per transaction until a batch is not full; returns documents handled."""
    handled = 0
    while True:
        with ctx.database.transaction() as session:
            done = step(session, ctx.settings, ctx.now)
        handled += done
        if done < BATCH:
            return handled
