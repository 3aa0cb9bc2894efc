"""Emergency and regulation access: break-the-glass grants and the holder's three switches
(rules ACC-5, ACC-6, REP-4).

Plain functions taking the session; the caller commits. The decision point decides
(`decide_emergency_grant`, `decide_manage_professionals`); this module seals the reason under the
holder's key, records the audit entries and tells the holder side and the GP (ACC-6), without the
reason nor any health content.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.care_team import refuse, require_settings_read
from carnet.access.lookups import holder_by_nir
from carnet.access.models import CareRelationship, EmergencyGrant, EmergencySettings
from carnet.access.notices import space_recipients, when_said
from carnet.access.rules import (
    Care,
    Relation,
    SpaceFacts,
    as_told,
    decide_emergency_grant,
    decide_manage_professionals,
    mode_of,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder, Professional
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.errors import Forbidden, InvalidInput
from carnet.notifications import rules as mail_rules
from carnet.notifications.service import enqueue
from carnet.vault.service import Vault

# DICOM / IHE BALP: "Emergency Override Started", the reason code of an emergency access (ACC-5).
EMERGENCY_OVERRIDE_STARTED = "110127"
MAX_REASON = 1000


def open_emergency(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    nir: str,
    reason: str,
    *,
    request_id: str | None = None,
) -> EmergencyGrant:
    """ACC-5: break-the-glass (professionals) or regulation (regulators), time-boxed by
    `settings.emergency_hours`, with a reason sealed under the holder's key, unless the holder
    opposed it (ACC-6). A refusal is recorded before it is raised; the caller commits it."""
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            f"The reason has at most {MAX_REASON} characters.",
            code="reason-too-long",
            field="reason",
        )
    holder = holder_by_nir(session, nir)
    actor = actor_for(session, settings, principal, holder)
    decision = decide_emergency_grant(actor, space_facts(session, holder), reason)
    if not decision:
        record(
            session,
            principal,
            "emergency.open-denied",
            holder_id=holder.id,
            target_type="Space",
            target_id=str(holder.id),
            # the mode that was attempted, so that the holder finds refusals under it too
            mode=Mode.REGULATION if actor.relation is Relation.REGULATOR else Mode.EMERGENCY,
            reason=decision.reason,
            request_id=request_id,
        )
        if decision.reason == "reason-required":
            raise InvalidInput(
                "An emergency access needs a reason.", code="reason-required", field="reason"
            )
        # ACC-3: a blocked professional (or regulator) is answered as if the holder opposed
        # their emergency access (ACC-6), which in effect they did: the block is never told.
        opposed = (
            "regulation-opposed" if actor.relation is Relation.REGULATOR else "emergency-opposed"
        )
        refuse(as_told(decision, opposed), "Emergency access to this patient's space is refused.")
    pro = account_service.professional(session, principal.id)
    if pro is None:  # pragma: no cover - the decision point has just seen them
        raise Forbidden("Only a registered professional opens an emergency access.")
    now = clock.now()
    grant = EmergencyGrant(
        id=uuid.uuid4(),
        holder_id=holder.id,
        professional_id=pro.id,
        mode=decision.mode.value,
        started_at=now,
        expires_at=now + dt.timedelta(hours=settings.emergency_hours),
    )
    grant.reason_sealed = vault.seal_text(session, holder.id, grant.id, "emergency-reason", reason)
    session.add(grant)
    session.flush()
    record(
        session,
        principal,
        "emergency.open",
        holder_id=holder.id,
        target_type="EmergencyGrant",
        target_id=str(grant.id),
        mode=decision.mode,
        reason=EMERGENCY_OVERRIDE_STARTED,
        detail=grant.reason_sealed,
        request_id=request_id,
    )
    _notify_emergency(session, settings, holder, pro, decision.mode, grant)
    return grant


def emergency_settings(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> SpaceFacts:
    """ACC-6: the three switches (absent row: the defaults)."""
    require_settings_read(session, settings, principal, holder)
    return space_facts(session, holder)


def set_emergency_settings(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    regulator: bool | None,
    emergency: bool | None,
    masked_in_emergency: bool | None,
    request_id: str | None = None,
) -> SpaceFacts:
    """ACC-6: set the switches (those left out keep their value); REP-4: not by caregivers.
    The holder's access settings are managed under the same rule as the care team (ACC-3)."""
    actor = actor_for(session, settings, principal, holder)
    current = space_facts(session, holder)
    decision = decide_manage_professionals(actor, current)
    if not decision:
        refuse(decision, "You may not change this space's access settings.")
    row = session.get(EmergencySettings, holder.id)
    if row is None:
        row = EmergencySettings(
            holder_id=holder.id,
            regulator=current.regulator_allowed,
            emergency=current.emergency_allowed,
            masked_in_emergency=current.masked_in_emergency,
        )
        session.add(row)
    if regulator is not None:
        row.regulator = regulator
    if emergency is not None:
        row.emergency = emergency
    if masked_in_emergency is not None:
        row.masked_in_emergency = masked_in_emergency
    row.changed_at = clock.now()
    session.flush()
    record(
        session,
        principal,
        "access.settings",
        holder_id=holder.id,
        target_type="Space",
        target_id=str(holder.id),
        mode=mode_of(actor),
        reason=(
            f"regulator={int(row.regulator)},emergency={int(row.emergency)},"
            f"masked_in_emergency={int(row.masked_in_emergency)}"
        ),
        request_id=request_id,
    )
    return space_facts(session, holder)


_MODE_WORDS = {
    Mode.EMERGENCY: "en urgence",
    Mode.REGULATION: "en régulation (SAMU – centre 15)",
}


def _notify_emergency(
    session: Session,
    settings: Settings,
    holder: Holder,
    pro: Professional,
    mode: Mode,
    grant: EmergencyGrant,
) -> int:
    """ACC-6: after every emergency or regulation access, the holder (or a minor's
    representatives) and their GP are told, without the reason nor any health content."""
    when = when_said(settings, grant.started_at)
    how = _MODE_WORDS[mode]
    sent = 0
    for email in space_recipients(session, settings, holder):
        enqueue(
            session,
            kind="access.emergency",
            recipient=email,
            subject="Accès en urgence à un espace santé Carnet",
            body_text="\n".join(
                [
                    "Bonjour,",
                    "",
                    f"Un professionnel de santé a ouvert un accès {how} à un espace santé Carnet "
                    f"que vous suivez, {when}. Cet accès dure au plus "
                    f"{settings.emergency_hours} heures.",
                    "",
                    "L'historique des accès de l'espace dit qui a consulté quoi ; vous pouvez y "
                    f"signaler un accès qui vous paraît suspect : {settings.base_url}/",
                ]
            ),
            holder_id=holder.id,
        )
        sent += 1
    gp_ids = select(CareRelationship.professional_id).where(
        CareRelationship.holder_id == holder.id,
        CareRelationship.is_gp.is_(True),
        CareRelationship.status != Care.BLOCKED.value,  # the holder excluded them
    )
    gps = account_service.professional_emails(session, gp_ids, but=pro.id)
    for gp_email in gps:
        if not gp_email or not mail_rules.is_valid_email(gp_email):
            continue
        enqueue(
            session,
            kind="access.emergency-gp",
            recipient=gp_email,
            subject="Accès en urgence au dossier Carnet d'un de vos patients",
            body_text="\n".join(
                [
                    "Bonjour,",
                    "",
                    "Vous êtes déclaré(e) comme médecin traitant de "
                    f"{holder.first_names} {holder.birth_name}. Un autre professionnel de santé "
                    f"a ouvert un accès {how} à son espace santé Carnet, {when}.",
                    "",
                    "Ce message ne contient aucune information médicale.",
                ]
            ),
            holder_id=holder.id,
        )
        sent += 1
    return sent
