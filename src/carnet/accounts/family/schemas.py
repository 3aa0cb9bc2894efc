"""Validated inputs and outputs of representatives, caregivers, contacts and wishes (REP-1…REP-5).

The wish models are what `accounts.wishes` stores (sealed); the API and the portal validate with them.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from carnet.accounts import rules

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 .\-()]{3,28}[0-9]$")


def _email(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    assert value is not None
    if len(value) > 254 or not _EMAIL_RE.match(value):
        raise ValueError("not a valid e-mail address")
    return value


def _phone(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    assert value is not None
    if not _PHONE_RE.match(value):
        raise ValueError("not a valid phone number (digits, spaces, dots, dashes, leading +)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class NirIn(_Strict):
    """Someone to invite, named by their social security number (NIR, rule ID-1)."""

    nir: str = Field(min_length=13, max_length=21, examples=["180017500100123"])

    @field_validator("nir")
    @classmethod
    def _nir(cls, value: str) -> str:
        problem = rules.nir_problem(value)
        if problem:
            raise ValueError(problem)
        return rules.normalize_nir(value)


# -- contacts and wishes (stored sealed, never in clear) -------------------------------------


class EmergencyContact(_Strict):
    """Someone to call in an emergency (several allowed)."""

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field("", max_length=100)
    phone: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=254)

    @field_validator("phone")
    @classmethod
    def _check_phone(cls, value: str | None) -> str | None:
        return _phone(value)

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        return _email(value)


class TrustedPerson(_Strict):
    """The trusted person ("personne de confiance"), one at most."""

    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=254)
    address: str = Field("", max_length=500)

    @field_validator("phone")
    @classmethod
    def _check_phone(cls, value: str | None) -> str | None:
        return _phone(value)

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        return _email(value)


class OrganDonation(_Strict):
    """Organ donation wish, one at most."""

    choice: Literal["donor", "refuses", "undecided"]
    note: str = Field("", max_length=2000)


class AdvanceDirectives(_Strict):
    """Advance directives ("directives anticipées"): whether they exist, where, and optionally the text."""

    has_directives: bool
    where_kept: str = Field("", max_length=500)
    text: str = Field("", max_length=20000)


EMERGENCY_CONTACT = "emergency_contact"
# kind -> model; every kind but emergency contacts has at most one row per holder.
WISH_MODELS: dict[str, type[_Strict]] = {
    EMERGENCY_CONTACT: EmergencyContact,
    "trusted_person": TrustedPerson,
    "organ_donation": OrganDonation,
    "advance_directives": AdvanceDirectives,
}
SINGLE_KINDS = tuple(kind for kind in WISH_MODELS if kind != EMERGENCY_CONTACT)


class WishOut(BaseModel):
    id: uuid.UUID
    kind: str
    content: dict[str, Any]
    updated_at: dt.datetime
    updated_by: str


class WishesOut(BaseModel):
    """Every contact and wish of a space, grouped by kind."""

    space_id: uuid.UUID
    emergency_contacts: list[WishOut]
    trusted_person: WishOut | None
    organ_donation: WishOut | None
    advance_directives: WishOut | None


# -- representatives and caregivers ----------------------------------------------------------


class RepresentationOut(BaseModel):
    id: uuid.UUID
    space_id: uuid.UUID
    role: str
    status: str
    expires_at: dt.datetime | None


class InvitationOut(BaseModel):
    id: uuid.UUID
    type: Literal["representative", "caregiver"]
    space_id: uuid.UUID
    space_name: str
    invited_by: str
    created_at: dt.datetime
    expires_at: dt.datetime


class InvitationAnswerOut(BaseModel):
    id: uuid.UUID
    type: Literal["representative", "caregiver"]
    space_id: uuid.UUID
    status: str


class CaregiverOut(BaseModel):
    id: uuid.UUID
    caregiver_name: str
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime
