"""Pure data and functions of the profile: sections, measurement kinds, UCUM units, LOINC codes,
plausible ranges, BMI (issue 7). No I/O.

The ranges are Carnet decisions (rules.md is silent): wide enough for newborns and extreme but real
values, narrow enough to catch unit mistakes (a weight in grams, a height in metres, a temperature in
°F) and typing errors. A value outside is refused with a message naming the range and the unit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"

# Section names as they appear in URLs and in the `section` column.
ILLNESS = "illness"
TREATMENT = "treatment"
HOSPITAL_STAY = "hospital_stay"
ALLERGY = "allergy"
FAMILY_HISTORY = "family_history"
VACCINATION = "vaccination"
BLOOD_GROUP = "blood_group"
MEASUREMENT = "measurement"
LIFESTYLE = "lifestyle"
DISABILITY = "disability"
SECTIONS: tuple[str, ...] = (
    ILLNESS,
    TREATMENT,
    HOSPITAL_STAY,
    ALLERGY,
    FAMILY_HISTORY,
    VACCINATION,
    BLOOD_GROUP,
    MEASUREMENT,
    LIFESTYLE,
    DISABILITY,
)
# At most one entry per holder (replace it with PUT).
SINGLE_SECTIONS = frozenset({BLOOD_GROUP})


@dataclass(frozen=True)
class MeasureKind:
    """A measured quantity: its UCUM unit (fixed), LOINC code, plausible range and FHIR category."""

    name: str
    unit: str  # UCUM
    loinc: str
    display: str
    low: float
    high: float
    category: str = "vital-signs"  # observation-category code
    integer: bool = False  # counted, not measured: a fraction is impossible (steps, a 0-10 score)


MEASURES: dict[str, MeasureKind] = {
    m.name: m
    for m in (
        MeasureKind("weight", "kg", "29463-7", "Body weight", 0.2, 400),
        MeasureKind("height", "cm", "8302-2", "Body height", 20, 260),
        MeasureKind("waist", "cm", "8280-0", "Waist Circumference at umbilicus", 20, 250),
        MeasureKind("temperature", "Cel", "8310-5", "Body temperature", 30, 45),
        MeasureKind(
            "glucose", "g/L", "2339-0", "Glucose [Mass/volume] in Blood", 0.1, 15, "laboratory"
        ),
        MeasureKind("systolic", "mm[Hg]", "8480-6", "Systolic blood pressure", 40, 300),
        MeasureKind("diastolic", "mm[Hg]", "8462-4", "Diastolic blood pressure", 20, 200),
        MeasureKind(
            "pain",
            "{score}",
            "72514-3",
            "Pain severity - 0-10 verbal numeric rating",
            0,
            10,
            "survey",
            integer=True,
        ),
        MeasureKind("heart_rate", "/min", "8867-4", "Heart rate", 20, 300),
        MeasureKind(
            "head_circumference", "cm", "9843-4", "Head Occipital-frontal circumference", 20, 70
        ),
        MeasureKind(
            "steps",
            "/d",
            "41950-7",
            "Number of steps in 24 hour Measured",
            0,
            150_000,
            "activity",
            integer=True,
        ),
        MeasureKind(
            "hba1c", "%", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", 3, 20, "laboratory"
        ),
    )
}
# Derived, never stored (issue 7): from the latest weight and height.
BMI = MeasureKind("bmi", "kg/m2", "39156-5", "Body mass index (BMI) [Ratio]", 5, 150)
LOINC_TO_MEASURE: dict[str, MeasureKind] = {m.loinc: m for m in (*MEASURES.values(), BMI)}
# A target may be set on every measured kind and on the derived BMI.
TARGET_KINDS: dict[str, MeasureKind] = {**MEASURES, BMI.name: BMI}


def _number(value: float) -> str:
    return f"{value:g}"


def _value_problem(measure: MeasureKind, value: float, what: str) -> str | None:
    if not math.isfinite(value):
        return f"Implausible {what}: not a number."
    if not measure.low <= value <= measure.high:
        return (
            f"Implausible {what}: {_number(value)} {measure.unit}; expected between "
            f"{_number(measure.low)} and {_number(measure.high)} {measure.unit}."
        )
    if measure.integer and value != int(value):
        return f"Implausible {what}: {_number(value)}; {measure.name} is a whole number."
    return None


def measure_problem(kind: str, value: float, unit: str | None = None) -> str | None:
    """Why a measurement is refused (unknown kind, wrong unit, implausible value), or None."""
    measure = MEASURES.get(kind)
    if measure is None:
        return f"Unknown measurement kind {kind!r}; expected one of: {', '.join(MEASURES)}."
    if unit is not None and unit != measure.unit:
        return f"The unit of {kind} is {measure.unit} (UCUM), not {unit!r}."
    return _value_problem(measure, value, kind)


def target_problem(kind: str, low: float | None, high: float | None) -> str | None:
    """Why a target is refused: unknown kind, no bound, a bound outside the plausible range of
    the kind (the same range as the measurements), or bounds in the wrong order."""
    measure = TARGET_KINDS.get(kind)
    if measure is None:
        return f"Unknown measurement kind {kind!r}; expected one of: {', '.join(TARGET_KINDS)}."
    if low is None and high is None:
        return "A target needs a lower bound, an upper bound or both."
    for name, bound in (("low", low), ("high", high)):
        if bound is not None:
            problem = _value_problem(measure, bound, f"target {name} for {kind}")
            if problem:
                return problem
    if low is not None and high is not None and low > high:
        return (
            f"The target's lower bound ({_number(low)}) is above its upper bound ({_number(high)})."
        )
    return None


TargetStatus = Literal["below", "within", "above"]


def target_status(value: float, low: float | None, high: float | None) -> TargetStatus:
    """Where the latest value stands against the target (bounds inclusive)."""
    if low is not None and value < low:
        return "below"
    if high is not None and value > high:
        return "above"
    return "within"


def future_date_problem(value: dt.date | None, today: dt.date) -> str | None:
    if value is not None and value > today:
        return f"The date {value.isoformat()} is in the future."
    return None


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body mass index, kg/m², rounded to one decimal."""
    metres = height_cm / 100
    return round(weight_kg / (metres * metres), 1)
