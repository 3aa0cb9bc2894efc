"""Validated inputs of the accounts domain."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from carnet.accounts import rules
from carnet.notifications.rules import is_valid_email

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ProfessionalIn(BaseModel):
    """A professional to register (rule ID-2: RPPS with Luhn check, TRE_G15 profession)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    rpps: str
    profession: str
    name: str
    email: str | None = None
    specialty: str | None = None
    regulator: bool = False
    practice: str | None = None

    @field_validator("practice")
    @classmethod
    def _practice(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if value not in ("occupational", "fire-brigade"):
            raise ValueError("practice is occupational, fire-brigade or empty (rule ACC-3)")
        return value

    @field_validator("rpps")
    @classmethod
    def _rpps(cls, value: str) -> str:
        problem = rules.rpps_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("profession")
    @classmethod
    def _profession(cls, value: str) -> str:
        problem = rules.profession_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or len(value) > 200:
            raise ValueError("a name of 1 to 200 characters is required")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _EMAIL_RE.match(value) or len(value) > 254:
            raise ValueError("not a valid e-mail address")
        return value

    @field_validator("specialty")
    @classmethod
    def _specialty(cls, value: str | None) -> str | None:
        return value or None


# -- holder API (/api/v1): requests and answers, with examples for the OpenAPI document ------------
# (rules LC-2, LC-4, LC-5; passwords are never stripped nor echoed back)

_NIR_EXAMPLE = "180017500100134"


def _checked_nir(value: str) -> str:
    """rule ID-1: a syntactically valid NIR/NIA (says nothing about whether it is known)."""
    problem = rules.nir_problem(value)
    if problem:
        raise ValueError(problem)
    return rules.normalize_nir(value)


class ErrorDetail(BaseModel):
    """The body of every error answer (see `carnet.http`): never a stack trace nor health data."""

    code: str
    message: str
    request_id: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "bad-code",
                        "message": "The social security number or the code is not correct.",
                        "request_id": "3f2a9c1d0b7e4a55",
                    }
                }
            ]
        }
    )


class OppositionIn(BaseModel):
    """rule LC-2: oppose with the INS and the provisional code, without logging in."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"nir": _NIR_EXAMPLE, "code": "ACDE-FGHJ-KMNP", "scope": "space"}]
        }
    )

    nir: str = Field(max_length=32, description="Social security number (NIR) or NIA.")
    code: str = Field(max_length=32, description="Provisional code, as printed (XXXX-XXXX-XXXX).")
    scope: Literal["space", "dmp-migration"] = Field(
        "space",
        description="`space`: no space at all (LC-2); `dmp-migration`: the space opens but an "
        "existing DMP record is not migrated into it (LC-3).",
    )

    @field_validator("nir")
    @classmethod
    def _nir(cls, value: str) -> str:
        return _checked_nir(value)


class SuspensionObjectionIn(BaseModel):
    """rule LC-6: object to a suspension with the INS and the suspension notice's code, without
    logging in (a suspended space lets nobody sign in), within 6 weeks."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"nir": _NIR_EXAMPLE, "code": "ACDE-FGHJ-KMNP", "reason": "mistake", "note": ""}
            ]
        }
    )

    nir: str = Field(max_length=32, description="Social security number (NIR) or NIA.")
    code: str = Field(max_length=32, description="The code of the suspension notice.")
    reason: Literal["mistake", "resolved", "care-needs", "other"] = Field(
        description="Why: the suspension is a mistake, its cause is solved, the space is needed "
        "for ongoing care, or another reason (said in `note`)."
    )
    note: str = Field("", max_length=1000, description="Optional; stored sealed.")

    @field_validator("nir")
    @classmethod
    def _nir(cls, value: str) -> str:
        return _checked_nir(value)


class SuspensionObjectionOut(BaseModel):
    objection_id: uuid.UUID
    objected_at: dt.datetime
    deadline: dt.date = Field(description="The last day an objection was possible.")


class OppositionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "proof_url": "https://carnet.example/api/v1/opposition/"
                    "0b8f6a52-2f4e-4b59-a1f1-6d3e8c2f9a10/proof.pdf",
                    "opposed_at": "2025-03-14T09:26:53Z",
                }
            ]
        }
    )

    proof_url: str = Field(description="The PDF proof of opposition; the link itself is the key.")
    opposed_at: dt.datetime


class ActivationIn(BaseModel):
    """rule LC-4: INS + provisional code + identity check (birth date) → active space."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "nir": _NIR_EXAMPLE,
                    "code": "ACDE-FGHJ-KMNP",
                    "birth_date": "1980-01-01",
                    "username": "marie.curie",
                    "password": "correct horse battery staple",
                    "email": "marie@example.org",
                }
            ]
        }
    )

    nir: str = Field(max_length=32)
    code: str = Field(max_length=32)
    birth_date: dt.date
    username: str = Field(max_length=200, description="3 to 64 letters, digits, . _ -")
    password: str = Field(
        max_length=1024,
        description="At least 12 characters; must not contain the username or the birth date.",
    )
    email: str = Field(max_length=254)

    @field_validator("nir")
    @classmethod
    def _nir(cls, value: str) -> str:
        return _checked_nir(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not is_valid_email(value):
            raise ValueError("not a valid e-mail address")
        return value


class ActivationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"state": "active", "username": "marie.curie"}]}
    )

    state: str
    username: str


class SessionIn(BaseModel):
    """First login step: username and password; a one-time code is then e-mailed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "marie.curie", "password": "correct horse battery staple"}]
        }
    )

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ChallengeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"challenge": "Xq3v8bq0P1dM2yq6Lw3jv9Gm1T0c8pQz7kq0aZx4b2E", "expires_in": 600}
            ]
        }
    )

    challenge: str = Field(description="Send it back with the e-mailed code to /session/verify.")
    expires_in: int = Field(description="Seconds before the e-mailed code expires.")


class VerifyIn(BaseModel):
    """Second login step: the challenge and the 6-digit code received by e-mail."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"challenge": "Xq3v8bq0P1dM2yq6Lw3jv9Gm1T0c8pQz7kq0aZx4b2E", "code": "042917"}
            ]
        }
    )

    challenge: str = Field(min_length=1, max_length=128)
    code: str = Field(min_length=1, max_length=16)


class TokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "cnt_0Jk3n6r8…",
                    "token_type": "bearer",
                    "expires_in": 3600,
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Lifetime of the token in seconds.")


class PasswordIn(BaseModel):
    """A new password for the holder's account, proven by the current one (LC-4 policy)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "correct horse battery staple",
                    "new_password": "violet lighthouse 42 orbit",
                }
            ]
        }
    )

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(
        max_length=1024,
        description="At least 12 characters; must not contain the username or the birth date.",
    )


class PasswordOut(BaseModel):
    """What the change ended besides the request's own token (counts only)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"tokens_ended": 2, "sessions_ended": 1, "apps_ended": 0}]}
    )

    tokens_ended: int
    sessions_ended: int
    apps_ended: int


class RecoveryIn(BaseModel):
    """A forgotten password: the username a recovery code is sent for (if it is someone's)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"username": "marie"}]})

    username: str = Field(min_length=1, max_length=200)


class ResetIn(BaseModel):
    """A new password set with the recovery code received by e-mail or letter (LC-4 policy)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "marie",
                    "code": "ACDE-FGHJ-KMNP",
                    "new_password": "violet lighthouse 42 orbit",
                }
            ]
        }
    )

    username: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=40)
    new_password: str = Field(
        max_length=1024,
        description="At least 12 characters; must not contain the username or the birth date.",
    )


class SessionOut(BaseModel):
    """One open portal session of the holder: when, and from which kind of device."""

    id: uuid.UUID
    device: str | None = Field(description='A browser and system, e.g. "Firefox, Linux".')
    created_at: dt.datetime
    last_used_at: dt.datetime


class SessionsOut(BaseModel):
    sessions: list[SessionOut]
    api_tokens: int = Field(description="API tokens of the holder that still work.")


class NotificationPreferencesIn(BaseModel):
    """The e-mails a space may switch off; those not given stay as they are."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"messages": False}]})

    messages: StrictBool | None = None
    appointments: StrictBool | None = None
    accesses: StrictBool | None = None


class NotificationPreferencesOut(BaseModel):
    messages: bool = Field(description="An e-mail when a new message arrives (SRV-1).")
    appointments: bool = Field(description="E-mail reminders of appointments (SRV-2).")
    accesses: bool = Field(description="An e-mail at a professional's first access (ACC-8).")


class CloseIn(BaseModel):
    """rule LC-5: close the space; `purge` asks for erasure (at the next daily jobs run)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"purge": False}]})

    purge: StrictBool


class CloseOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"state": "closed", "purge_due_on": "2035-03-14"}]}
    )

    state: str
    purge_due_on: dt.date | None


class RenewalIn(BaseModel):
    """A new provisional code (expired code, or a closed or opposed person asking for a space)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"nir": _NIR_EXAMPLE}]})

    nir: str = Field(max_length=32)

    @field_validator("nir")
    @classmethod
    def _nir(cls, value: str) -> str:
        return _checked_nir(value)


class RenewalOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "sent-if-known"}]})

    status: Literal["sent-if-known"] = "sent-if-known"


class ProfileOut(BaseModel):
    holder_id: uuid.UUID
    first_names: str
    birth_name: str
    relation: Literal["self", "representative", "caregiver"]
    state: str


class ProfilesOut(BaseModel):
    """The holder's own space and the spaces they manage (REP-1, REP-4, REP-5)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "profiles": [
                        {
                            "holder_id": "6f1c2a8e-0c53-4a43-9b0e-2d1f6f3f7c11",
                            "first_names": "Marie",
                            "birth_name": "CURIE",
                            "relation": "self",
                            "state": "active",
                        },
                        {
                            "holder_id": "0d8e7c6b-5a49-4382-b1c0-ffeeddccbbaa",
                            "first_names": "Eve",
                            "birth_name": "CURIE",
                            "relation": "representative",
                            "state": "open",
                        },
                    ]
                }
            ]
        }
    )

    profiles: list[ProfileOut]


class MeOut(BaseModel):
    """The holder's own identity (INS traits, rule ID-1), state and lifecycle dates."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "holder_id": "6f1c2a8e-0c53-4a43-9b0e-2d1f6f3f7c11",
                    "nir": _NIR_EXAMPLE,
                    "birth_name": "CURIE",
                    "first_names": "Marie",
                    "birth_date": "1980-01-01",
                    "sex": "F",
                    "birth_place_insee": "75056",
                    "ins_qualified": True,
                    "email": "marie@example.org",
                    "username": "marie.curie",
                    "state": "active",
                    "notified_on": "2025-02-01",
                    "opposition_deadline": "2025-03-15",
                    "activated_at": "2025-02-03T18:12:00Z",
                    "closed_on": None,
                    "purge_due_on": None,
                    "dmp_migration_opposed": False,
                }
            ]
        }
    )

    holder_id: uuid.UUID
    nir: str
    birth_name: str
    first_names: str
    birth_date: dt.date
    sex: str
    birth_place_insee: str
    ins_qualified: bool
    email: str | None
    username: str | None
    state: str
    notified_on: dt.date | None
    opposition_deadline: dt.date | None
    activated_at: dt.datetime | None
    closed_on: dt.date | None
    purge_due_on: dt.date | None
    dmp_migration_opposed: bool
