"""The space itself and its care team (ACC-1, ACC-3…ACC-6, ACC-8, LC-5, REP-4): declaring care,
GP proposals and answers, the access settings, administrators' blocks, emergency grants, the
access history, the patient's identity, and closing the space."""

from __future__ import annotations

from carnet.access.rules.apps import for_app
from carnet.access.rules.facts import (
    CLINICIANS,
    HOLDER_SIDE,
    Actor,
    Care,
    Decision,
    Relation,
    SpaceFacts,
    mode_of,
)
from carnet.accounts.rules import LIVE_STATES
from carnet.audit.rules import Mode
from carnet.auth.principal import PrincipalKind


def decide_emergency_grant(actor: Actor, space: SpaceFacts, reason: str) -> Decision:
    """ACC-5: break-the-glass by a professional, or regulation by the regulator, with a reason,
    unless the holder opposed it (ACC-6)."""
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode_of(actor))
    if not reason.strip():
        return Decision(False, "reason-required", mode_of(actor))
    if actor.care is Care.BLOCKED:
        return Decision(False, "blocked", mode_of(actor))
    if actor.relation is Relation.REGULATOR:
        if not space.regulator_allowed:
            return Decision(False, "regulation-opposed", Mode.REGULATION)
        return Decision(True, "regulation", Mode.REGULATION)
    if actor.relation is Relation.PROFESSIONAL:
        if not space.emergency_allowed:
            return Decision(False, "emergency-opposed", Mode.EMERGENCY)
        return Decision(True, "emergency", Mode.EMERGENCY)
    return Decision(False, "not-a-professional", mode_of(actor))


def decide_declare_care(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-1: a professional declares that they treat the holder, with the holder's consent
    collected during care. Allowed for any registered professional on a live space; whether that
    puts them in the care team is decided at read time (`in_care_team`: ACC-3 express
    authorisation, a block that only the holder lifts)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation is not Relation.PROFESSIONAL:
        return Decision(False, "not-a-professional", mode)
    return Decision(True, "treating", Mode.NORMAL)


# ACC-4: the médecin traitant is a physician (TRE_G15 "10", ID-2).
PHYSICIAN = "10"


def decide_gp_proposal(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-4, ACC-6: a physician declaring "I am this patient's GP" only *proposes* it; the holder
    confirms (`decide_gp_answer`). In France the médecin traitant is declared by patient and doctor
    together, and the GP receives the emergency notices (ACC-6): no professional names themselves.
    Recorded for a physician of a live space whom the holder has not blocked (ACC-3: a blocked
    professional changes nothing; the answer does not say so)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation is not Relation.PROFESSIONAL:
        return Decision(False, "not-a-professional", mode)
    if actor.profession_code != PHYSICIAN:
        return Decision(False, "gp-must-be-physician", mode)
    if actor.care is Care.BLOCKED:
        return Decision(False, "blocked", mode)
    return Decision(True, "gp-proposal", Mode.NORMAL)


def decide_gp_answer(
    actor: Actor, space: SpaceFacts, *, pending: bool, candidate: Care, confirm: bool
) -> Decision:
    """ACC-4: the holder (or a representative, a guardian: REP-1, REP-5) confirms or declines a
    physician's pending GP proposal; REP-4: a caregiver may not, it is an access setting. Only
    what was proposed can be confirmed, and not for a professional blocked since (ACC-3: a
    block wins); declining is always possible."""
    manage = decide_manage_professionals(actor, space)
    if not manage:
        return manage
    if not pending:
        return Decision(False, "no-gp-proposal", manage.mode)
    if confirm and candidate is Care.BLOCKED:
        return Decision(False, "gp-candidate-blocked", manage.mode)
    return Decision(True, "gp-confirmed" if confirm else "gp-declined", manage.mode)


def decide_access_settings_read(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-3, ACC-6: the holder side sees the care team, the emergency switches and what each
    professional may read (REP-4 keeps caregivers from changing them, not from reading them)."""
    mode = mode_of(actor)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


def decide_manage_professionals(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-3: the holder (or a representative) lists, authorises, blocks and unblocks professionals;
    REP-4: caregivers do not change access settings; ACC-4: administrators may block others."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in (Relation.SELF, Relation.REPRESENTATIVE):
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-allowed", mode)


def decide_block_by_administrator(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-4: an administrator professional may block other professionals."""
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode_of(actor))
    if (
        actor.relation is Relation.PROFESSIONAL
        and actor.administrator
        and actor.care is not Care.BLOCKED
    ):
        return Decision(True, "administrator", Mode.NORMAL)
    return Decision(False, "not-administrator", mode_of(actor))


def decide_patient_read(actor: Actor, space: SpaceFacts, interaction: str = "r") -> Decision:
    """ID-1: who may see a holder's identity (FHIR Patient): the holder side always, professionals
    and regulators while the space is open (finding a patient by INS before depositing is normal
    MHD use; it shows identity traits, never health data); apps with a Patient scope (ACC-9)."""
    if actor.relation is Relation.APP:
        return for_app(
            actor, space, "Patient", interaction, lambda a: decide_patient_read(a, space)
        )
    mode = mode_of(actor)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation in CLINICIANS and space.state in LIVE_STATES:
        return Decision(True, "professional-identity-lookup", mode)
    return Decision(
        False, "no-relation" if actor.relation not in CLINICIANS else "space-not-open", mode
    )


def decide_history_read(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-8: the holder reads their access history (representatives too; caregivers act on the
    holder's behalf and may read it); apps with an AuditEvent scope (ACC-9)."""
    if actor.relation is Relation.APP:
        return for_app(actor, space, "AuditEvent", "s", lambda a: decide_history_read(a, space))
    mode = mode_of(actor)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


def decide_close(actor: Actor, space: SpaceFacts) -> Decision:
    """LC-5: the holder closes their own space; a minor's legal representative (REP-1) or a
    protected adult's guardian (REP-5, a representative too) closes it for them. A caregiver acts on
    the holder's behalf but never closes the space (REP-4); nobody else does. Which states may be
    closed is the lifecycle's state machine (`accounts.rules`), not an access question."""
    mode = mode_of(actor)
    if actor.relation in (Relation.SELF, Relation.REPRESENTATIVE):
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation is Relation.CAREGIVER:
        return Decision(False, "caregiver-forbidden", mode)
    return Decision(False, "not-holder-side", mode)


def decide_space_choice(kind: PrincipalKind) -> Decision:
    """REP-1, REP-4, REP-5: choosing the space one acts on (a `/me/...` request, with or without
    `X-Carnet-Space`) is the holder side's: a holder acts on their own space or on one they
    manage (`accounts.family.manages` decides which). Professionals reach a space through their
    care relationship, apps through their consent, never by naming it."""
    if kind is PrincipalKind.HOLDER:
        return Decision(True, "holder")
    return Decision(False, "not-a-holder")
