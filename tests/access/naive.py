"""A deliberately naive model of who may read a document, written straight from rules.md.

It shares no code with `carnet.access.rules`: each rule is restated as a plain condition, so that
the property-based test catches a decision point that drifts from the written rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

MATRIX = {  # data/habilitations.csv
    "10": {"general", "psy", "genetic", "medico-social", "telemedicine-request"},
    "50": {"general", "genetic", "medico-social", "telemedicine-request"},
    "21": {"general", "telemedicine-request"},
    "40": {"general"},
    "60": {"general", "psy", "medico-social", "telemedicine-request"},
    "70": {"general", "medico-social"},
    "80": {"general"},
    "91": {"general", "psy", "medico-social"},
    "92": {"general"},
}


@dataclass(frozen=True)
class World:
    space_state: str
    who: str  # holder | representative | caregiver | professional | regulator | stranger
    profession: str
    care: str  # none | declared | authorised | blocked
    administrator: bool
    express_needed: bool
    grant: str  # none | emergency | regulation
    regulator_switch: bool
    emergency_switch: bool
    masked_in_emergency: bool
    is_author: bool
    sensitivity: str
    status: str
    masked: bool
    invisible_to_patient: bool
    visible_from_past: bool
    invisible_to_representatives: bool
    # ACC-9: when `who` is "app", the app and the consent behind its token.
    app_status: str = "online"  # online | offline | suspended | delisted
    app_connected_by: str = "holder"  # holder | representative | caregiver | gone
    app_scope: str = "patient/DocumentReference.rs"
    app_asks_more: bool = False  # its current version lists more than the one consented to
    app_other_space: bool = False


def may_read(w: World, now: dt.datetime) -> bool:
    # ACC-1: the space must be open or active, for everyone.
    if w.space_state not in ("open", "active"):
        return False
    if w.who in ("holder", "representative", "caregiver"):
        if w.status == "entered-in-error":
            return False
        # DOC-4: hidden from the patient until announced or a month has passed.
        if w.invisible_to_patient and not w.visible_from_past:
            return False
        # REP-2: never shown to representatives.
        return not (w.who == "representative" and w.invisible_to_representatives)
    if w.who not in ("professional", "regulator"):
        return False
    # A blocked professional reads nothing (Carnet decision, see access.rules).
    if w.care == "blocked":
        return False
    # DOC-3: a document stays visible to its author.
    if w.is_author:
        return True
    normal = w.who == "professional" and (
        w.care == "authorised" or (w.care == "declared" and not w.express_needed)  # ACC-1, ACC-3
    )
    emergency = (
        not normal and w.who == "professional" and w.grant == "emergency" and w.emergency_switch
    )  # ACC-5, ACC-6
    regulation = w.who == "regulator" and w.grant == "regulation" and w.regulator_switch
    if not (normal or emergency or regulation):
        return False
    if w.status == "entered-in-error":
        return False
    if w.sensitivity not in MATRIX.get(w.profession, set()):
        return False
    if w.masked:
        if normal:
            return w.administrator  # DOC-3, ACC-4
        return w.masked_in_emergency  # ACC-6
    return True


def _scope_allows(scope: str, resource: str, wanted: str) -> bool:
    """SMART App Launch: `patient/<type or *>.<c r u d s>` (v2) or `.read`/`.write`/`.*` (v1)."""
    target, _, rights = scope.removeprefix("patient/").partition(".")
    rights = {"read": "rs", "write": "cud", "*": "cruds"}.get(rights, rights)
    return target in (resource, "*") and set(wanted) <= set(rights)


def _scope_reads_documents(scope: str) -> bool:
    return _scope_allows(scope, "DocumentReference", "r")


def app_may_read(w: World, now: dt.datetime) -> bool:
    """ACC-9 and SRV-3, restated: an app working (online, or offline for those already connected),
    on the space it was connected to, whose current version asks for nothing beyond the consent,
    with a granted scope to read documents, reads what the person who connected it reads."""
    # A new version "asks more" when it lists patient/Condition.rs: beyond the consent unless the
    # consented scope already allows it (a wildcard), as permissions compare (ACC-9).
    asks_more = w.app_asks_more and not _scope_allows(w.app_scope, "Condition", "rs")
    if w.app_status not in ("online", "offline") or asks_more or w.app_other_space:
        return False
    if w.app_connected_by == "gone" or not _scope_reads_documents(w.app_scope):
        return False
    return may_read(replace(w, who=w.app_connected_by), now)
