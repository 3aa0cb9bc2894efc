"""Validated inputs of the accounts domain."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from carnet.accounts import rules

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
