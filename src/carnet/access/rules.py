"""The policy decision point: pure functions deciding who may do what in a holder's space.

No other module decides access to a holder's data. Each rule has two faces built from the same
facts: `decide_*` for one object, and (in `access.filters`) a SQL clause so that searches are
narrowed in the query itself. A property-based test checks that both faces always agree, and a
second, naive model written from rules.md checks the decisions themselves.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from carnet.apps import rules as app_rules
from carnet.audit.rules import Mode
from carnet.auth.principal import Principal


class Relation(enum.StrEnum):
    """How the actor relates to the space being accessed (resolved by `access.service`)."""

    SELF = "self"
    REPRESENTATIVE = "representative"  # REP-1, REP-5
    CAREGIVER = "caregiver"  # REP-4
    PROFESSIONAL = "professional"
    REGULATOR = "regulator"
    OPERATOR = "operator"
    APP = "app"
    NONE = "none"


class Care(enum.StrEnum):
    """A professional's standing in the holder's care team (ACC-1, ACC-3)."""

    NONE = "none"
    DECLARED = "declared"  # treating the holder, consent collected during care
    AUTHORISED = "authorised"  # authorised by the holder
    BLOCKED = "blocked"


@dataclass(frozen=True)
class AppFacts:
    """What ACC-9 needs about an app token: the app now, and the holder's consent.

    `listing` is the app's current listing (its version's scopes); `consented_listing` the listing
    of the version the holder consented to; `granted` the scopes the holder granted.
    """

    status: str
    space_id: uuid.UUID
    granted: frozenset[str]
    consented_listing: frozenset[str]
    listing: frozenset[str]


@dataclass(frozen=True)
class Actor:
    """A principal as seen from one space."""

    principal: Principal
    relation: Relation
    profession_code: str | None = None
    care: Care = Care.NONE
    administrator: bool = False  # ACC-4
    needs_express_authorisation: bool = False  # ACC-3: occupational, fire-brigade physicians
    grant: Mode | None = None  # an open emergency (ACC-5) or regulation grant
    readable: frozenset[str] = field(default_factory=frozenset)  # sensitivities (habilitations)
    app: AppFacts | None = None  # ACC-9: an app's token
    on_behalf: Relation = Relation.NONE  # ACC-9: the consenting holder's relation to the space


@dataclass(frozen=True)
class SpaceFacts:
    holder_id: uuid.UUID
    state: str
    regulator_allowed: bool = True  # ACC-6 switch 1
    emergency_allowed: bool = True  # ACC-6 switch 2
    masked_in_emergency: bool = False  # ACC-6 switch 3
    # Issue 7 item 4, ACC-7: the holder may hide the health history from professionals.
    history_visible_to_professionals: bool = True


@dataclass(frozen=True)
class DocumentFacts:
    """What the rules need to know about a document (rules DOC-2…DOC-4, REP-2)."""

    author_kind: str
    author_id: uuid.UUID | None
    sensitivity: str
    status: str
    masked: bool
    invisible_to_patient: bool
    visible_to_patient_from: dt.datetime | None
    invisible_to_representatives: bool


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    mode: Mode = Mode.NORMAL

    def __bool__(self) -> bool:
        return self.allowed


LIVE_STATES = frozenset({"open", "active"})
HOLDER_SIDE = frozenset({Relation.SELF, Relation.REPRESENTATIVE, Relation.CAREGIVER})
CLINICIANS = frozenset({Relation.PROFESSIONAL, Relation.REGULATOR})

_MODES = {
    Relation.SELF: Mode.NORMAL,
    Relation.REPRESENTATIVE: Mode.REPRESENTATIVE,
    Relation.CAREGIVER: Mode.CAREGIVER,
    Relation.PROFESSIONAL: Mode.NORMAL,
    Relation.REGULATOR: Mode.REGULATION,
    Relation.OPERATOR: Mode.OPERATOR,
    Relation.APP: Mode.APP,
}


def mode_of(actor: Actor) -> Mode:
    return _MODES.get(actor.relation, Mode.NORMAL)


def sign_in_lasts(principal_kind: str, holder_state: str | None) -> bool:
    """LC-5, LC-6, LC-8: a holder's sign-in (API bearer token, portal session) lasts only while
    their own space is active, as logging in needs: a suspended, closed or purged holder's earlier
    credential opens no door, for their own space nor for any space they act on for someone else.
    `auth.service.end_access` revokes those credentials when the space ends; this check holds at
    every request even for one that escaped it. Other principals are not tied to a space."""
    if principal_kind != "holder":
        return True
    return holder_state == "active"


def visible_to_patient(doc: DocumentFacts, now: dt.datetime) -> bool:
    """DOC-4: hidden from the patient until the announcement, at most one month after deposit."""
    if not doc.invisible_to_patient:
        return True
    return doc.visible_to_patient_from is not None and doc.visible_to_patient_from <= now


def in_care_team(actor: Actor) -> bool:
    """ACC-1: authorised by the holder, or declared as treating (except ACC-3 professions)."""
    if actor.care is Care.AUTHORISED:
        return True
    return actor.care is Care.DECLARED and not actor.needs_express_authorisation


def clinical_access(actor: Actor, space: SpaceFacts) -> Decision:
    """Whether a professional reaches this space at all, and in which mode (ACC-1, ACC-5, ACC-6).

    Normal mode needs the care team; otherwise an open grant: emergency unless the holder opposed
    emergency access, regulation (regulators only) unless they opposed regulator access. A blocked
    professional reads nothing, not even in an emergency (Carnet decision: the holder's block wins).
    """
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode_of(actor))
    if actor.care is Care.BLOCKED:
        return Decision(False, "blocked", mode_of(actor))
    if actor.relation is Relation.PROFESSIONAL and in_care_team(actor):
        return Decision(True, "care-team", Mode.NORMAL)
    if actor.grant is Mode.EMERGENCY and actor.relation is Relation.PROFESSIONAL:
        if space.emergency_allowed:
            return Decision(True, "emergency", Mode.EMERGENCY)
        return Decision(False, "emergency-opposed", Mode.EMERGENCY)
    if actor.grant is Mode.REGULATION and actor.relation is Relation.REGULATOR:
        if space.regulator_allowed:
            return Decision(True, "regulation", Mode.REGULATION)
        return Decision(False, "regulation-opposed", Mode.REGULATION)
    if actor.relation is Relation.REGULATOR:
        return Decision(False, "no-regulation-grant", Mode.REGULATION)
    return Decision(False, "not-in-care-team", Mode.NORMAL)


# -- apps (ACC-9, SRV-3) -----------------------------------------------------------------------


def decide_app_standing(app: AppFacts) -> Decision:
    """ACC-9, SRV-3: the app still works (suspended or delisted: nothing, at once; offline:
    connected apps keep working, a Carnet decision) and its current listing asks for nothing
    beyond the version the holder consented to (otherwise fresh consent is needed)."""
    if app.status not in app_rules.WORKING:
        return Decision(False, f"app-{app.status}", Mode.APP)
    if not app_rules.covers(app.consented_listing, app.listing):
        return Decision(False, "consent-outdated", Mode.APP)
    return Decision(True, "app-standing", Mode.APP)


def decide_app_scope(app: AppFacts, resource_type: str, interaction: str) -> Decision:
    """ACC-9, for the token alone: the app's standing, then a granted scope that the listing
    still has allows `interaction` (one of c r u d s) on `resource_type`."""
    standing = decide_app_standing(app)
    if not standing:
        return standing
    if interaction not in app_rules.INTERACTIONS or len(interaction) != 1:
        return Decision(False, "unknown-interaction", Mode.APP)
    if not app_rules.permits(app.granted & app.listing, resource_type, interaction):
        return Decision(False, "insufficient-scope", Mode.APP)
    return Decision(True, "app-scope", Mode.APP)


def decide_app_reach(
    actor: Actor, space: SpaceFacts, resource_type: str, interaction: str
) -> Decision:
    """ACC-9: an app reaches only the space it was connected to, while the space is open and the
    holder who consented still acts for it (a representative at the minor's majority: REP-3), with
    a scope covering the interaction."""
    if actor.relation is not Relation.APP or actor.app is None:
        return Decision(False, "not-an-app", mode_of(actor))
    if actor.app.space_id != space.holder_id:
        return Decision(False, "other-space", Mode.APP)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", Mode.APP)
    if actor.on_behalf not in HOLDER_SIDE:
        return Decision(False, "consent-holder-gone", Mode.APP)
    return decide_app_scope(actor.app, resource_type, interaction)


def on_behalf(actor: Actor) -> Actor:
    """The app seen as the holder-side person who connected it: it never sees more than they do
    (REP-2 for a representative's connection)."""
    return replace(actor, relation=actor.on_behalf, app=None)


def _for_app(
    actor: Actor,
    space: SpaceFacts,
    resource_type: str,
    interaction: str,
    holder_side: Callable[[Actor], Decision],
) -> Decision:
    """ACC-9 then the holder-side rule, in app mode (ACC-8: audited as `app`)."""
    reach = decide_app_reach(actor, space, resource_type, interaction)
    if not reach:
        return reach
    inner = holder_side(on_behalf(actor))
    return Decision(inner.allowed, f"app:{inner.reason}", Mode.APP)


def space_reach(actor: Actor, space: SpaceFacts) -> Decision:
    """The steps every decision on a space's own data starts with: nobody reaches a space that is
    not open (ACC-1); the holder side does (REP-1, REP-4); besides it only clinicians, through
    `clinical_access` (care team ACC-1/ACC-3, emergency and regulation ACC-5/ACC-6). The caller
    then narrows what a clinician may do with it."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation not in CLINICIANS:
        return Decision(False, "no-relation", mode)
    return clinical_access(actor, space)


def decide_document_read(
    actor: Actor, space: SpaceFacts, doc: DocumentFacts, now: dt.datetime
) -> Decision:
    """May `actor` read this document's metadata and content? Deny by default."""
    if actor.relation is Relation.APP:  # ACC-9: DocumentReference scopes cover the content too
        return _for_app(
            actor, space, "DocumentReference", "r",
            lambda a: decide_document_read(a, space, doc, now),
        )  # fmt: skip
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        if doc.status == "entered-in-error":
            return Decision(False, "entered-in-error", mode)
        if not visible_to_patient(doc, now):
            return Decision(False, "awaiting-announcement", mode)  # DOC-4
        if actor.relation is Relation.REPRESENTATIVE and doc.invisible_to_representatives:
            return Decision(False, "invisible-to-representatives", mode)  # REP-2
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation not in CLINICIANS:
        return Decision(False, "no-relation", mode)
    is_author = doc.author_kind == "professional" and doc.author_id == actor.principal.id
    if is_author and actor.care is not Care.BLOCKED:
        return Decision(True, "author", Mode.NORMAL)  # DOC-3: the author sees their document
    access = clinical_access(actor, space)
    if not access:
        return access
    if doc.status == "entered-in-error":
        return Decision(False, "entered-in-error", access.mode)
    if doc.sensitivity not in actor.readable:
        return Decision(False, "profession-not-habilitated", access.mode)  # ACC-1 matrix
    if doc.masked:
        if access.mode is Mode.NORMAL and not actor.administrator:
            return Decision(False, "masked", access.mode)  # DOC-3, ACC-4
        if access.mode is not Mode.NORMAL and not space.masked_in_emergency:
            return Decision(False, "masked", access.mode)  # ACC-6 switch 3
    return Decision(True, access.reason, access.mode)


def decide_document_write(actor: Actor, space: SpaceFacts, doc: DocumentFacts) -> Decision:
    """May `actor` change this document's holder-side metadata (rename, move, pin, mask, delete)?

    The holder and those acting for them manage the space's documents (DOC-3, DOC-6).
    """
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        if actor.relation is Relation.REPRESENTATIVE and doc.invisible_to_representatives:
            return Decision(False, "invisible-to-representatives", mode)
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


def decide_document_author_change(actor: Actor, space: SpaceFacts, doc: DocumentFacts) -> Decision:
    """DOC-6: a professional replaces or withdraws only their own document (ACC-2: even blocked)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if (
        actor.relation in CLINICIANS
        and doc.author_kind == "professional"
        and doc.author_id == actor.principal.id
    ):
        return Decision(True, "author", Mode.NORMAL)
    return Decision(False, "not-author", mode)


def decide_deposit(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-2: depositing needs less than reading: any professional treating the holder may deposit,
    even a blocked one. The deposit itself is the professional's attestation that they treat the
    holder; it gives them no right to read anything but their own documents."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation not in CLINICIANS:
        return Decision(False, "not-a-professional", mode)
    return Decision(True, "treating", Mode.NORMAL)


def decide_upload(actor: Actor, space: SpaceFacts) -> Decision:
    """Holders (and those acting for them) add their own documents."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


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


# Refusals caused by the holder's block of the professional asking (or of a recipient they name).
BLOCK_REASONS = frozenset({"blocked", "recipient-blocked"})


def as_told(decision: Decision, instead: str) -> Decision:
    """ACC-3 (Carnet decision): what the holder decided about a professional is theirs. The care
    declaration answers the same whether or not the professional is blocked; so does every other
    answer to a professional: a refusal that a block causes is told as `instead`, the refusal the
    professional would get anyway (emergency access: the holder's opposition, ACC-6; messaging:
    outside the care team, SRV-1). The audit entry keeps the real reason for the holder (ACC-8)."""
    if not decision and decision.reason in BLOCK_REASONS:
        return Decision(False, instead, decision.mode)
    return decision


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
        return _for_app(
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
        return _for_app(actor, space, "AuditEvent", "s", lambda a: decide_history_read(a, space))
    mode = mode_of(actor)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


def decide_reimbursements_read(actor: Actor, space: SpaceFacts) -> Decision:
    """SRV-4: the insurer's reimbursement lines are read by the holder side only (holder,
    representatives, caregivers); ACC-7: professionals do not see them, not even in an emergency.
    REP-2 needs no check here: lines of acts a minor keeps secret are never imported. Apps need
    an ExplanationOfBenefit scope (ACC-9)."""
    if actor.relation is Relation.APP:
        return _for_app(
            actor, space, "ExplanationOfBenefit", "s",
            lambda a: decide_reimbursements_read(a, space),
        )  # fmt: skip
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


# ACC-7: what professionals see of the profile: vaccinations and the health history (illnesses,
# treatments, hospital stays, allergies, family history). Contacts and wishes are ACC-7 too but
# live in `accounts.wishes` (`decide_contacts_read`). Measurements, lifestyle, disabilities and
# blood group stay private to the holder side. Professionals may add vaccinations (issue 7),
# nothing else; apps read and write what their scopes name, as the holder who connected them
# (ACC-9).
PROFILE_HISTORY = frozenset({"illness", "treatment", "hospital_stay", "allergy", "family_history"})
PROFILE_PRO_READABLE = frozenset({"vaccination"}) | PROFILE_HISTORY
PROFILE_PRO_WRITABLE = frozenset({"vaccination"})
# ACC-9: the profile sections served in FHIR, hence reachable by apps (the FHIR type names the
# scope); the other sections have no FHIR face and stay out of apps' reach.
PROFILE_APP_RESOURCES = {
    "vaccination": "Immunization",
    "measurement": "Observation",
    "allergy": "AllergyIntolerance",
    "illness": "Condition",
    "treatment": "MedicationStatement",
    "family_history": "FamilyMemberHistory",
}


def history_visible(access: Decision, space: SpaceFacts) -> bool:
    """Issue 7 item 4 (Carnet decision): the health history is visible to professionals (ACC-7)
    unless the holder hid it; hidden, it is treated like a masked document (DOC-3): in an emergency
    or in regulation it shows only if the holder allowed masked data in emergencies (ACC-6 switch 3).
    """
    if space.history_visible_to_professionals:
        return True
    return access.mode is not Mode.NORMAL and space.masked_in_emergency


def decide_profile_read(
    actor: Actor, space: SpaceFacts, section: str, interaction: str = "s"
) -> Decision:
    """ACC-7: the holder side reads every section; a professional reaching the space (ACC-1, ACC-5:
    care team, or an open grant) reads only vaccinations and the health history, the latter unless
    the holder hid it (`history_visible`). ACC-9: an app reads the sections served in FHIR that its
    scopes name (`s` search, `r` read by id), as the holder who connected it."""
    if actor.relation is Relation.APP:
        resource = PROFILE_APP_RESOURCES.get(section)
        if resource is None:
            return Decision(False, "not-served-to-apps", Mode.APP)
        return _for_app(
            actor, space, resource, interaction, lambda a: decide_profile_read(a, space, section)
        )
    access = space_reach(actor, space)
    if not access or actor.relation in HOLDER_SIDE:
        return access
    if section not in PROFILE_PRO_READABLE:
        return Decision(False, "private-to-holder-side", access.mode)  # ACC-7
    if section in PROFILE_HISTORY and not history_visible(access, space):
        return Decision(False, "history-hidden", access.mode)
    return Decision(True, access.reason, access.mode)


def decide_profile_write(
    actor: Actor, space: SpaceFacts, section: str, interaction: str = "u"
) -> Decision:
    """ACC-7: the holder side writes every section; a professional reaching the space adds
    vaccinations only. ACC-9: an app writes a section served in FHIR when a scope names its type
    and the interaction (`c` create, `u` update, `d` delete), as the holder who connected it would
    (so never more than a representative who connected it may write)."""
    if actor.relation is Relation.APP:
        resource = PROFILE_APP_RESOURCES.get(section)
        if resource is None:
            return Decision(False, "not-served-to-apps", Mode.APP)
        return _for_app(
            actor, space, resource, interaction,
            lambda a: decide_profile_write(a, space, section, interaction),
        )  # fmt: skip
    access = space_reach(actor, space)
    if not access or actor.relation in HOLDER_SIDE:
        return access
    if section not in PROFILE_PRO_WRITABLE:
        return Decision(False, "private-to-holder-side", access.mode)  # ACC-7
    return Decision(True, access.reason, access.mode)


# SRV-1: the pharmacies a holder may write to first (TRE_G15 profession 21, pharmacien).
PHARMACIST = "21"


def decide_message_start(actor: Actor, space: SpaceFacts, *, qualified: bool) -> Decision:
    """SRV-1, ID-3: who may open a conversation in this space. A professional writes first, only
    to a holder whose INS is qualified (ID-3) and whose space they reach in the care team (ACC-1;
    not blocked, ACC-3; an emergency grant is for reading, not for messaging). The holder side may
    open one too, but only towards pharmacies that dispensed to them (`decide_message_recipient`)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation is not Relation.PROFESSIONAL:
        return Decision(False, "not-a-professional", mode)
    if not qualified:
        return Decision(False, "ins-not-qualified", mode)  # ID-3
    if actor.care is Care.BLOCKED:
        return Decision(False, "blocked", mode)
    if not in_care_team(actor):
        return Decision(False, "not-in-care-team", mode)
    return Decision(True, "care-team", Mode.NORMAL)


def decide_message_recipient(
    recipient: Actor, space: SpaceFacts, *, holder_started: bool, dispensed: bool
) -> Decision:
    """SRV-1: may this professional receive a new conversation of this space? When the holder side
    writes first, only a pharmacy that dispensed to the holder; when a professional writes first,
    the professionals put in to/cc must be in the care team themselves (they will read it)."""
    mode = mode_of(recipient)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if recipient.relation is not Relation.PROFESSIONAL:
        return Decision(False, "not-a-professional", mode)
    if recipient.care is Care.BLOCKED:
        return Decision(False, "recipient-blocked", mode)
    if holder_started:
        if recipient.profession_code != PHARMACIST or not dispensed:
            return Decision(False, "not-a-dispensing-pharmacy", mode)
        return Decision(True, "dispensing-pharmacy", Mode.NORMAL)
    if not in_care_team(recipient):
        return Decision(False, "recipient-not-in-care-team", mode)
    return Decision(True, "care-team", Mode.NORMAL)


def decide_message_read(actor: Actor, space: SpaceFacts, *, participant: bool) -> Decision:
    """SRV-1, ACC-8: the holder side reads every conversation of the space; a professional only
    those they take part in, unless the holder blocked them (ACC-3: the holder's block wins)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation is not Relation.PROFESSIONAL or not participant:
        return Decision(False, "not-a-participant", mode)
    if actor.care is Care.BLOCKED:
        return Decision(False, "blocked", mode)
    return Decision(True, "participant", Mode.NORMAL)


def decide_message_attachment(doc: DocumentFacts, now: dt.datetime) -> Decision:
    """SRV-1, REP-2, DOC-4 (Carnet decision): a message is read by the whole holder side of the
    space, representatives included, and its attachment is a copy that stays in their mailbox
    (`decide_message_copy`). So a document becomes an attachment only if every one of them may
    read it: never one kept from representatives (a minor's secret), nor one still awaiting its
    announcement. Professional recipients are decided one by one (`decide_message_copy`)."""
    if doc.invisible_to_representatives:
        return Decision(False, "invisible-to-representatives")
    if not visible_to_patient(doc, now):
        return Decision(False, "awaiting-announcement")
    if doc.status == "entered-in-error":
        return Decision(False, "entered-in-error")
    return Decision(True, "holder-side-readable")


def decide_message_copy(
    recipient: Actor, space: SpaceFacts, source: DocumentFacts | None, now: dt.datetime
) -> Decision:
    """SRV-1, ACC-1, DOC-3, REP-2, DOC-4: a copy of a record document (a message attachment) is
    read, and sent, only by whoever may read the document itself: the very decision of a direct
    read (`decide_document_read`: care team, habilitation matrix, masking, emergency switches),
    taken again on the source as it is now, so a document masked after it was sent is no longer
    readable through its copy by a professional who may not read it.

    Carnet decision: when the source is gone (deleted by the holder, DOC-6), nothing remains to
    decide on, and the holder's deletion is a withdrawal from the record, so professionals no
    longer read the copy (as they would get 404 on the document). The holder side keeps it: the
    message is in their own mailbox (SRV-1), its REP-2 and DOC-4 flags were checked when it was
    sent and can no longer change. A purge (LC-8) removes the messages with the space.
    """
    if source is None:
        reach = space_reach(recipient, space)
        if reach and recipient.relation in HOLDER_SIDE:
            return Decision(True, "source-deleted:holder-side", reach.mode)
        return Decision(False, "source-deleted", reach.mode)
    return decide_document_read(recipient, space, source, now)


def decide_message_reply(
    actor: Actor, space: SpaceFacts, *, participant: bool, ended: bool
) -> Decision:
    """SRV-1: the parties of a conversation reply in it until a professional ends it."""
    read = decide_message_read(actor, space, participant=participant)
    if not read:
        return read
    if ended:
        return Decision(False, "conversation-ended", read.mode)
    return read


def decide_conversation_end(actor: Actor, space: SpaceFacts, *, participant: bool) -> Decision:
    """SRV-1: a professional taking part in a conversation may end it; the holder side may not."""
    read = decide_message_read(actor, space, participant=participant)
    if not read:
        return read
    if actor.relation is not Relation.PROFESSIONAL:
        return Decision(False, "not-a-professional", read.mode)
    return read


def decide_agenda_read(
    actor: Actor,
    space: SpaceFacts,
    author_kind: str | None = None,
    author_id: uuid.UUID | None = None,
    interaction: str = "s",
) -> Decision:
    """SRV-2: the holder side reads the whole agenda. The agenda is none of the categories ACC-7
    opens to professionals, so a professional reaching the space (ACC-1, ACC-5) reads only the
    appointments they entered themselves (as an author reads their document, DOC-3). ACC-9: an app
    with an Appointment scope (`s` search, `r` read by id) reads it as the holder who connected
    it."""
    if actor.relation is Relation.APP:
        return _for_app(
            actor, space, "Appointment", interaction,
            lambda a: decide_agenda_read(a, space, author_kind, author_id),
        )  # fmt: skip
    access = space_reach(actor, space)
    if not access or actor.relation in HOLDER_SIDE:
        return access
    if author_kind == "professional" and author_id == actor.principal.id:
        return Decision(True, "author", access.mode)
    return Decision(False, "private-to-holder-side", access.mode)


def decide_agenda_write(actor: Actor, space: SpaceFacts) -> Decision:
    """SRV-2: appointments are entered by the holder side, by a professional of the care team
    (normal mode: an emergency or regulation grant is for reading, not for booking), or by an app
    the holder consented to with `patient/Appointment.c` (ACC-9), as that holder would."""
    if actor.relation is Relation.APP:
        return _for_app(actor, space, "Appointment", "c", lambda a: decide_agenda_write(a, space))
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation is Relation.PROFESSIONAL:
        access = clinical_access(actor, space)
        if access and access.mode is Mode.NORMAL:
            return Decision(True, access.reason, Mode.NORMAL)
        return Decision(False, access.reason if not access else "care-team-only", access.mode)
    return Decision(False, "not-allowed", mode)


def decide_agenda_change(
    actor: Actor,
    space: SpaceFacts,
    author_kind: str,
    author_id: uuid.UUID,
    interaction: str = "u",
) -> Decision:
    """SRV-2: the holder side changes or deletes any appointment of the space; a professional
    only those they entered, while still reaching the space; an app (ACC-9) as the holder who
    connected it, with `patient/Appointment.u` (or `.d` to delete)."""
    if actor.relation is Relation.APP:
        return _for_app(
            actor, space, "Appointment", interaction,
            lambda a: decide_agenda_change(a, space, author_kind, author_id),
        )  # fmt: skip
    decision = decide_agenda_write(actor, space)
    if not decision or actor.relation in HOLDER_SIDE:
        return decision
    if author_kind == "professional" and author_id == actor.principal.id:
        return Decision(True, "author", decision.mode)
    return Decision(False, "not-author", decision.mode)


def decide_agenda_settings(actor: Actor, space: SpaceFacts, feed: bool = False) -> Decision:
    """SRV-2: the holder side switches the prevention calendar on or off. The private iCalendar
    feed opens a new way into the space, so like an access setting it is for the holder and
    representatives only (REP-4: not caregivers)."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if feed and actor.relation is Relation.CAREGIVER:
        return Decision(False, "caregiver-forbidden", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    return Decision(False, "not-holder-side", mode)


def decide_timeline_read(actor: Actor, space: SpaceFacts) -> Decision:
    """Issue 7 item 4: the health history ("Mon histoire de santé") with its own visibility. The
    holder side always reads it; a professional reaching the space (ACC-1, ACC-5) reads it as ACC-7
    says, unless the holder hid it (`history_visible`). Each source inside is still narrowed by its
    own rule (documents, profile sections; reimbursements never reach professionals)."""
    access = space_reach(actor, space)
    if not access or actor.relation in HOLDER_SIDE:
        return access
    if not history_visible(access, space):
        return Decision(False, "history-hidden", access.mode)
    return Decision(True, access.reason, access.mode)


def decide_contacts_read(actor: Actor, space: SpaceFacts) -> Decision:
    """ACC-7: contacts and wishes (emergency contacts, trusted person…) are read by the holder side
    and by professionals reaching the space (care team, or an open emergency/regulation grant)."""
    return space_reach(actor, space)


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
