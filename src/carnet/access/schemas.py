"""What the access API takes and answers: care team, emergency, access history, explain
(rules ACC-1, ACC-3…ACC-6, ACC-8)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from carnet.accounts import rules


class _Strict(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


def _nir(value: str) -> str:
    problem = rules.nir_problem(value)
    if problem:
        raise ValueError(problem)
    return rules.normalize_nir(value)


def _rpps(value: str) -> str:
    problem = rules.rpps_problem(value)
    if problem:
        raise ValueError(problem)
    return value.strip()


# -- care team (ACC-1, ACC-3, ACC-4) -----------------------------------------------------------


class CareDeclarationIn(_Strict):
    """A professional declares that they treat the patient, whose consent they collected (ACC-1)."""

    nir: str = Field(min_length=13, max_length=21, examples=["180017500100123"])
    as_gp: bool = Field(
        False,
        description="I am this patient's GP (médecin traitant, ACC-4): a proposal, which takes "
        "effect only once the patient confirms it.",
    )

    check_nir = field_validator("nir")(_nir)


class RecordedOut(BaseModel):
    """The same answer whatever the holder chose (a block is not revealed)."""

    recorded: Literal[True] = True
    gp: Literal["awaiting-holder-confirmation"] | None = Field(
        None,
        description="With as_gp: your declaration as GP is a proposal; the patient's GP changes "
        "only when the patient confirms it in Carnet (ACC-4). Until then nothing changes.",
    )


class ProfessionalOut(BaseModel):
    """One professional related to the space, as the holder sees them."""

    rpps: str
    name: str
    profession_code: str = Field(description="TRE_G15 (ID-2).")
    profession_label: str
    specialty: str | None
    practice: str | None = Field(description="occupational | fire-brigade | none (ACC-3).")
    status: Literal["declared", "authorised", "blocked", "none"] = Field(
        description="none: unblocked, with no authorisation (ACC-3)."
    )
    administrator: bool = Field(description="Also sees masked documents, may block others (ACC-4).")
    is_gp: bool = Field(description="The holder's GP, médecin traitant (ACC-4).")
    gp_proposed_at: dt.datetime | None = Field(
        None,
        description="When this physician proposed to be your GP; the proposal awaits your answer "
        "(`/me/gp-proposals`). Null when none is pending.",
    )
    declared_at: dt.datetime | None
    changed_at: dt.datetime | None
    last_access_at: dt.datetime | None = Field(
        description="Their last entry in the access history."
    )
    needs_express_authorisation: bool = Field(
        description="Occupational or fire-brigade physician: a declaration is not enough (ACC-3)."
    )
    in_care_team: bool = Field(description="Whether they read the space in normal mode now.")


class ProfessionalChangeIn(_Strict):
    """ACC-3: authorise, block or unblock; ACC-4: name or remove an administrator."""

    status: Literal["authorised", "blocked", "unblocked"] | None = None
    administrator: bool | None = None


class GpProposalOut(BaseModel):
    """A physician's proposal to be the holder's GP, awaiting the holder's answer (ACC-4)."""

    rpps: str
    name: str
    profession_label: str
    proposed_at: dt.datetime
    blocked: bool = Field(description="You blocked them since: the proposal can only be declined.")


class BlockIn(_Strict):
    """ACC-4: an administrator professional blocks another professional of the patient."""

    nir: str = Field(min_length=13, max_length=21)
    rpps: str = Field(min_length=11, max_length=11)

    check_nir = field_validator("nir")(_nir)
    check_rpps = field_validator("rpps")(_rpps)


class BlockOut(BaseModel):
    rpps: str
    status: Literal["blocked"] = "blocked"


# -- emergency (ACC-5, ACC-6) ------------------------------------------------------------------


class EmergencyAccessIn(_Strict):
    nir: str = Field(min_length=13, max_length=21)
    reason: str = Field(
        "",
        max_length=1000,
        description="Why (required): sealed under the patient's key, never e-mailed.",
    )

    check_nir = field_validator("nir")(_nir)


class EmergencyAccessOut(BaseModel):
    mode: Literal["emergency", "regulation"]
    expires_at: dt.datetime


class EmergencySettingsOut(BaseModel):
    """ACC-6: three independent switches."""

    regulator: bool = Field(description="The SAMU regulator may read in regulation mode.")
    emergency: bool = Field(description="Other professionals may break the glass.")
    masked_in_emergency: bool = Field(description="Masked documents are shown in emergencies.")


class EmergencySettingsIn(_Strict):
    """Switches left out keep their value."""

    regulator: bool | None = None
    emergency: bool | None = None
    masked_in_emergency: bool | None = None


# -- access history (ACC-8) --------------------------------------------------------------------


class HistoryActorOut(BaseModel):
    kind: str = Field(description="holder | professional | regulator | operator | app | system")
    display: str = Field(
        description='"vous", a first name, a professional\'s name and profession, or "Carnet".'
    )
    rpps: str | None = None


class HistoryEntryOut(BaseModel):
    id: uuid.UUID
    at: dt.datetime
    action: str
    mode: str = Field(
        description="normal | emergency | regulation | representative | caregiver | app | "
        "operator | system"
    )
    actor: HistoryActorOut
    target_type: str | None
    target_id: str | None
    reason: str | None = Field(description="A code (e.g. 110127: emergency override started).")
    reported: bool = Field(description="Already reported as suspicious.")


class HistoryLinks(BaseModel):
    self: str
    first: str
    last: str
    prev: str | None = None
    next: str | None = None


class HistoryOut(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    entries: list[HistoryEntryOut]
    links: HistoryLinks


class ReportIn(_Strict):
    note: str | None = Field(None, max_length=2000, description="Sealed; shown to no one else.")


class ReportOut(BaseModel):
    id: uuid.UUID
    entry_id: uuid.UUID
    status: str
    created_at: dt.datetime


# -- explain (item 7) --------------------------------------------------------------------------


class VerdictOut(BaseModel):
    allowed: bool
    reason: str = Field(description="The decision point's reason code.")
    explanation: str = Field(description="The same, as a sentence in French.")


class SensitivityAccessOut(BaseModel):
    sensitivity: str
    document_types: list[str] = Field(
        description="Document types of this sensitivity in the category (none: your uploads)."
    )
    normal: VerdictOut
    masked: VerdictOut
    if_authorised: VerdictOut = Field(description="What an authorisation (ACC-3) would give.")


class CategoryAccessOut(BaseModel):
    code: str
    label: str
    access: Literal["all", "some", "none"]
    masked_access: Literal["all", "some", "none"]
    explanation: str
    sensitivities: list[SensitivityAccessOut]


class ExplanationOut(BaseModel):
    professional: ProfessionalOut
    mode: str
    summary: VerdictOut
    own_documents: VerdictOut = Field(description="The documents they deposited themselves.")
    categories: list[CategoryAccessOut]
