"""The facts the decision point decides on, its answer (`Decision`), and the checks every rule
shares: whether a professional reaches the space at all and in which mode (ACC-1, ACC-3, ACC-5,
ACC-6), who is in the care team, what the patient sees before an announcement (DOC-4), how long a
sign-in lasts (LC-5, LC-6, LC-8). Which states are live is the accounts lifecycle's (LC-1)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field

from carnet.accounts.rules import LIVE_STATES
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
