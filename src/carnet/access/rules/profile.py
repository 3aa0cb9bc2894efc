"""The profile, health history, contacts and agenda (ACC-7, SRV-2, issue 7): which sections and
appointments each reader sees or writes, and the holder's switches."""

from __future__ import annotations

import uuid

from carnet.access.rules.apps import for_app, space_reach
from carnet.access.rules.facts import (
    HOLDER_SIDE,
    Actor,
    Decision,
    Relation,
    SpaceFacts,
    clinical_access,
    mode_of,
)
from carnet.accounts.rules import LIVE_STATES
from carnet.audit.rules import Mode
from carnet.auth.principal import PrincipalKind

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
        return for_app(
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
        return for_app(
            actor, space, resource, interaction,
            lambda a: decide_profile_write(a, space, section, interaction),
        )  # fmt: skip
    access = space_reach(actor, space)
    if not access or actor.relation in HOLDER_SIDE:
        return access
    if section not in PROFILE_PRO_WRITABLE:
        return Decision(False, "private-to-holder-side", access.mode)  # ACC-7
    return Decision(True, access.reason, access.mode)


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
        return for_app(
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
        return for_app(actor, space, "Appointment", "c", lambda a: decide_agenda_write(a, space))
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
        return for_app(
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


def decide_export(kind: PrincipalKind) -> Decision:
    """SRV-5: a holder downloads all their data; nobody else asks for an export."""
    if kind is PrincipalKind.HOLDER:
        return Decision(True, "holder")
    return Decision(False, "not-a-holder")


def decide_export_read(
    kind: PrincipalKind, principal_id: uuid.UUID, owner_id: uuid.UUID
) -> Decision:
    """SRV-5: an export request is seen by the holder who asked for it only."""
    if kind is PrincipalKind.HOLDER and owner_id == principal_id:
        return Decision(True, "own-export")
    return Decision(False, "not-own-export")
