"""Who is told about accesses to a space, and the neutral e-mails they get (rules ACC-4, ACC-6,
ACC-8, REP-5).

Carnet decision (the rules are silent): e-mails never name a professional nor carry a reason or
any health content; the GP's e-mails name the patient (without it, they would tell them nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from carnet import clock
from carnet.access.lookups import relationship
from carnet.access.models import CareRelationship
from carnet.access.rules import Actor, Decision, Relation
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.family.relations import representative_emails
from carnet.accounts.models import Holder, Professional
from carnet.audit.rules import Mode
from carnet.config import Settings
from carnet.notifications import rules as mail_rules
from carnet.notifications.service import enqueue


def space_recipients(session: Session, settings: Settings, holder: Holder) -> list[str]:
    """Who is told about accesses to a space: the holder, or a minor's accepted representatives;
    an adult's guardian too (REP-5)."""
    minor = account_rules.is_minor(
        holder.birth_date, clock.today(settings.timezone), settings.majority_age
    )
    found = representative_emails(session, holder.id, guardians_only=not minor)
    if not minor and holder.email:
        found.insert(0, holder.email)
    unique = list(dict.fromkeys(found))
    return [email for email in unique if mail_rules.is_valid_email(email)]


def when_said(settings: Settings, instant: dt.datetime) -> str:
    local = instant.astimezone(ZoneInfo(settings.timezone))
    return local.strftime("le %d/%m/%Y à %H:%M")


def notify_holder_side(
    session: Session,
    settings: Settings,
    holder: Holder,
    *,
    kind: str,
    subject: str,
    lines: list[str],
) -> int:
    """A neutral e-mail to those told about the space (`space_recipients`): no professional's
    name, no health content."""
    sent = 0
    for email in space_recipients(session, settings, holder):
        enqueue(
            session,
            kind=kind,
            recipient=email,
            subject=subject,
            body_text="\n".join(["Bonjour,", "", *lines]),
            holder_id=holder.id,
        )
        sent += 1
    return sent


def notify_gp_change(
    session: Session,
    settings: Settings,
    holder: Holder,
    previous: Sequence[Professional],
    now: dt.datetime,
) -> None:
    """ACC-4, ACC-6: the holder side and the previous GP are told that the GP changed. No e-mail
    names a professional; the previous GP's names the patient, like the GP's emergency notice
    (without it, it would tell them nothing), and carries nothing else."""
    when = when_said(settings, now)
    notify_holder_side(
        session,
        settings,
        holder,
        kind="access.gp-change",
        subject="Le médecin traitant d'un espace santé Carnet a changé",
        lines=[
            f"Le médecin traitant d'un espace santé Carnet que vous suivez a changé, {when}. "
            "C'est à lui que sont désormais signalés les accès en urgence.",
            "",
            "Si vous n'êtes pas à l'origine de ce changement, consultez « Mes professionnels » "
            f"et l'historique des accès : {settings.base_url}/professionals",
        ],
    )
    for pro in previous:
        if not pro.email or not mail_rules.is_valid_email(pro.email):
            continue
        enqueue(
            session,
            kind="access.gp-replaced",
            recipient=pro.email,
            subject="Un de vos patients a choisi un autre médecin traitant dans Carnet",
            body_text="\n".join(
                [
                    "Bonjour,",
                    "",
                    f"{holder.first_names} {holder.birth_name} a confirmé un autre médecin "
                    f"comme médecin traitant dans Carnet, {when}. Vous ne recevrez plus les avis "
                    "d'accès en urgence à son espace santé.",
                    "",
                    "Ce message ne contient aucune information médicale.",
                ]
            ),
            holder_id=holder.id,
        )


def after_read(
    session: Session, settings: Settings, actor: Actor, holder: Holder, decision: Decision
) -> bool:
    """ACC-8: at the first successful read by a professional of the care team in a space, e-mail
    the holder once. Called by `documents.service` after each allowed read; emergency and
    regulation reads are covered by the grant's e-mail, and professionals without a relationship
    row (authors reading their own deposit) are not tracked. Returns whether a mail was queued."""
    if actor.relation is not Relation.PROFESSIONAL or not decision:
        return False
    if decision.mode is not Mode.NORMAL:
        return False
    rel = relationship(session, holder.id, actor.principal.id)
    if rel is None or rel.first_access_notified_at is not None:
        return False
    now = clock.now()
    claimed = cast(
        "CursorResult[object]",
        session.execute(
            update(CareRelationship)
            .where(
                CareRelationship.id == rel.id,
                CareRelationship.first_access_notified_at.is_(None),
            )
            .values(first_access_notified_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if claimed.rowcount != 1:
        return False  # a concurrent first read claimed it
    set_committed_value(rel, "first_access_notified_at", now)
    if not account_service.wants_notice(session, holder.id, "accesses"):
        return False  # switched off in "Mon compte": the access history still shows it
    for email in space_recipients(session, settings, holder):
        enqueue(
            session,
            kind="access.first",
            recipient=email,
            subject="Un nouveau professionnel a consulté un espace santé Carnet",
            body_text="\n".join(
                [
                    "Bonjour,",
                    "",
                    "Un professionnel de santé a consulté pour la première fois un espace santé "
                    f"Carnet que vous suivez, {when_said(settings, now)}.",
                    "",
                    "L'historique des accès dit qui ; vous pouvez y signaler un accès suspect, "
                    f"et bloquer ce professionnel : {settings.base_url}/",
                ]
            ),
            holder_id=holder.id,
        )
    return True
