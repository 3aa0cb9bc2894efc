"""Majority (REP-3): the parents' representations end at 18; the young adult keeps the same space."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules
from carnet.accounts.family.invitations import parent_links
from carnet.accounts.family.relations import (
    ACCEPTED,
    ENDED,
    PARENT_ROLES,
    PENDING,
)
from carnet.accounts.lifecycle import issue_code
from carnet.accounts.models import Holder, Representation
from carnet.accounts.notices import send_notice
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM
from carnet.auth.service import end_access
from carnet.config import Settings
from carnet.vault.service import Vault


def majority_cutoff(day: dt.date, majority_age: int) -> dt.date:
    """The latest birth date of someone of age on `day` (29 February birthdays count on 1 March,
    as `rules.age_on` does)."""
    try:
        return day.replace(year=day.year - majority_age)
    except ValueError:  # `day` is 29 February, that year is not a leap year
        return day.replace(year=day.year - majority_age, day=28)


@dataclass(frozen=True)
class MajorityBatch:
    """What one batch did: young adults processed, and notices nobody could be sent."""

    processed: int
    undeliverable: int


def reach_majority(
    session: Session, vault: Vault, settings: Settings, day: dt.date, limit: int = 1000
) -> MajorityBatch:
    """REP-3 (Carnet decision): on the 18th birthday (or at the first run after it) the parents'
    representations end (their sessions leave the space, the apps they connected to it are
    disconnected: `auth.service.end_access`), the young adult gets a provisional code to activate
    the *same* space, and is told directly by the majority notice (without any address it is
    recorded undeliverable, for the operator). Guardians (REP-5) stay. Idempotent: an adult with
    no parent link left is not selected again."""
    cutoff = majority_cutoff(day, settings.majority_age)
    has_parent = exists().where(
        Representation.minor_id == Holder.id,
        Representation.role.in_(PARENT_ROLES),
        Representation.status == ACCEPTED,
    )
    adults = session.scalars(
        select(Holder).where(Holder.birth_date <= cutoff, has_parent).limit(limit)
    ).all()
    undeliverable = 0
    for holder in adults:
        for link in parent_links(session, holder.id):
            if link.status in (ACCEPTED, PENDING):
                if link.status == ACCEPTED and link.representative_id is not None:
                    end_access(
                        session,
                        relation=(link.representative_id, holder.id),
                        reason="majority",
                    )
                link.status = ENDED
                link.responded_at = link.responded_at or clock.now()
        session.flush()
        sent = "none"
        if holder.deceased_on is None and holder.state in (
            rules.NOTIFIED,
            rules.OPEN,
            rules.ACTIVE,
        ):
            code = issue_code(session, vault, settings, holder)
            sent = send_notice(
                session, vault, settings, holder, code, kind="account.majority", today=day
            )
            undeliverable += sent == "undeliverable"
        record(
            session,
            SYSTEM,
            "account.majority",
            holder_id=holder.id,
            target_type="Space",
            target_id=str(holder.id),
            mode=Mode.SYSTEM,
            reason=f"rep-3;notice={sent}",
        )
    return MajorityBatch(len(adults), undeliverable)
