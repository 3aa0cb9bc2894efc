"""Validated content of each profile section (stored sealed) and the API's outputs (issue 7).

Every date is refused when in the future; measurements are checked against `profile.rules`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from carnet import clock
from carnet.profile import rules

_ATC_RE = re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$")
_CIP_RE = re.compile(r"^([0-9]{7}|[0-9]{13})$")


class _Section(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _no_future_dates(self) -> _Section:
        today = clock.today()
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, dt.date):
                problem = rules.future_date_problem(
                    value.date() if isinstance(value, dt.datetime) else value, today
                )
                if problem:  # named as the caller wrote it (`from`, not `start`)
                    raise ValueError(f"{info.alias or name}: {problem}")
        return self

    def effective_date(self) -> dt.date | None:
        """The date the entry is ordered and searched by."""
        return None


class Illness(_Section):
    label: str = Field(min_length=1, max_length=200)
    status: Literal["current", "past"]
    since: dt.date | None = None
    note: str = Field("", max_length=2000)

    def effective_date(self) -> dt.date | None:
        return self.since


class Treatment(_Section):
    label: str = Field(min_length=1, max_length=200)
    cip: str | None = Field(None, description="CIP7 or CIP13 code of the medicine")
    atc: str | None = Field(None, description="ATC code (any level, e.g. C09AA05)")
    dosage: str = Field("", max_length=500)
    current: bool = True
    since: dt.date | None = None

    @field_validator("cip")
    @classmethod
    def _cip(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not _CIP_RE.match(value):
            raise ValueError("a CIP code has 7 or 13 digits")
        return value

    @field_validator("atc")
    @classmethod
    def _atc(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        value = value.upper()
        if not _ATC_RE.match(value):
            raise ValueError("not an ATC code (e.g. C09AA05)")
        return value

    def effective_date(self) -> dt.date | None:
        return self.since


class HospitalStay(_Section):
    place: str = Field(min_length=1, max_length=200)
    start: dt.date = Field(alias="from")
    end: dt.date | None = Field(None, alias="to")
    reason: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _order(self) -> HospitalStay:
        if self.end is not None and self.end < self.start:
            raise ValueError("to: the end of the stay is before its start")
        return self

    def effective_date(self) -> dt.date | None:
        return self.start


class Allergy(_Section):
    substance: str = Field(min_length=1, max_length=200)
    type: Literal["allergy", "intolerance"] = "allergy"
    reaction: str = Field("", max_length=500)
    severity: Literal["mild", "moderate", "severe"] | None = None
    since: dt.date | None = None

    def effective_date(self) -> dt.date | None:
        return self.since


class FamilyHistory(_Section):
    relative: Literal[
        "mother",
        "father",
        "sister",
        "brother",
        "child",
        "grandmother",
        "grandfather",
        "aunt",
        "uncle",
        "cousin",
        "other",
    ]
    condition: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


class VaccineCoding(BaseModel):
    """A vaccine coding Carnet does not map (SNOMED CT, a French product code…): kept as given
    and rendered back, so a professional's software gets its own code again."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    system: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=50)
    display: str = Field("", max_length=200)


class Vaccination(_Section):
    vaccine: str = Field(min_length=1, max_length=200)
    code: str | None = Field(None, max_length=20, description="Vaccine code (CVX-like), optional")
    codings: list[VaccineCoding] = Field(
        default_factory=list, max_length=5, description="Other codings, kept as given"
    )
    dose_number: int = Field(1, ge=1, le=20)
    booster: bool = False
    date: dt.date
    lot: str = Field("", max_length=50)
    by: str = Field("", max_length=200, description="Who administered it")

    def effective_date(self) -> dt.date | None:
        return self.date


class BloodGroup(_Section):
    value: Literal["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"]


class Measurement(_Section):
    kind: str
    value: float
    unit: str | None = Field(None, description="Optional; must be the kind's UCUM unit")
    date: dt.date
    note: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _plausible(self) -> Measurement:
        problem = rules.measure_problem(self.kind, self.value, self.unit)
        if problem:
            raise ValueError(problem)
        self.unit = rules.MEASURES[self.kind].unit
        return self

    def effective_date(self) -> dt.date | None:
        return self.date


class Lifestyle(_Section):
    diet: str = Field("", max_length=500)
    physical_activity: str = Field("", max_length=500)
    sleep: str = Field("", max_length=500)
    screens: str = Field("", max_length=500)
    alcohol: str = Field("", max_length=500)
    tobacco: str = Field("", max_length=500)
    date: dt.date | None = None

    def effective_date(self) -> dt.date | None:
        return self.date


class Disability(_Section):
    type: str = Field(min_length=1, max_length=200)
    rate: int | None = Field(None, ge=0, le=100, description="Recognised rate, percent")
    human_help: bool = False
    since: dt.date | None = None

    def effective_date(self) -> dt.date | None:
        return self.since


SECTION_MODELS: dict[str, type[_Section]] = {
    rules.ILLNESS: Illness,
    rules.TREATMENT: Treatment,
    rules.HOSPITAL_STAY: HospitalStay,
    rules.ALLERGY: Allergy,
    rules.FAMILY_HISTORY: FamilyHistory,
    rules.VACCINATION: Vaccination,
    rules.BLOOD_GROUP: BloodGroup,
    rules.MEASUREMENT: Measurement,
    rules.LIFESTYLE: Lifestyle,
    rules.DISABILITY: Disability,
}
assert tuple(SECTION_MODELS) == rules.SECTIONS


# -- outputs -----------------------------------------------------------------------------------


class EntryOut(BaseModel):
    id: uuid.UUID
    section: str
    content: dict[str, Any]
    effective_date: dt.date | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str


class VersionOut(BaseModel):
    version: int
    change: str
    content: dict[str, Any]
    changed_at: dt.datetime
    changed_by: str
    changed_as: str


class BmiOut(BaseModel):
    value: float
    unit: str = "kg/m2"
    weight_entry: uuid.UUID
    height_entry: uuid.UUID
    date: dt.date


class ProfileOut(BaseModel):
    """The sections visible to the caller, each a list of entries (newest first)."""

    space_id: uuid.UUID
    sections: dict[str, list[EntryOut]]
    bmi: BmiOut | None = None


# -- measurement targets and growth ------------------------------------------------------------


class TargetIn(BaseModel):
    """A target for one measurement kind: a lower bound, an upper bound or both (its kind's UCUM
    unit; the same plausible range as the measurements)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    low: float | None = None
    high: float | None = None
    unit: str | None = Field(None, description="Optional; must be the kind's UCUM unit")
    note: str = Field("", max_length=500)


class TargetOut(BaseModel):
    kind: str
    unit: str
    low: float | None
    high: float | None
    note: str
    updated_at: dt.datetime
    updated_by: str


class TargetViewOut(BaseModel):
    """A kind's target against its latest value: `status` is below, within or above (None without
    a target or a value)."""

    kind: str
    unit: str
    target: TargetOut | None
    latest_value: float | None
    latest_date: dt.date | None
    status: Literal["below", "within", "above"] | None


class GrowthPointOut(BaseModel):
    date: dt.date
    age_days: int
    value: float
    z: float | None
    percentile: float | None


class GrowthChartOut(BaseModel):
    indicator: str
    unit: str
    start_day: float
    end_day: float
    percentiles: dict[int, list[tuple[float, float]]]
    points: list[GrowthPointOut]


class GrowthOut(BaseModel):
    """A child's growth (issue 7): their points against the configured reference's percentiles.
    `reference` is None when no reference is configured (docs/growth-curves.md)."""

    space_id: uuid.UUID
    sex: str
    reference: str | None
    licence: str | None
    charts: list[GrowthChartOut]
