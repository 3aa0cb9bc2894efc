"""Growth curves for children (issue 7): the LMS method, percentile curves, a child's points. No I/O.

A growth reference gives, for each indicator, sex and age, three parameters: L (Box-Cox power),
M (median) and S (coefficient of variation). For a measurement X (Cole & Green 1992; WHO 2006 §5):

    z = ((X / M) ** L - 1) / (L * S)     when L != 0
    z = ln(X / M) / S                    when L == 0
    X = M * (1 + L * S * z) ** (1 / L)   (inverse; X = M * exp(S * z) when L == 0)

L, M and S are interpolated linearly between tabulated ages. WHO restricts z beyond ±3 (the "SD23"
adjustment) for its own classifications; Carnet draws only P3…P97 (|z| < 1.89) and shows the plain
LMS z, so it does not need it.

No reference data ships with Carnet: the tables are loaded at run time from the file an operator
configures (`growth_reference.load`, docs/growth-curves.md says why and where to get them).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

WEIGHT = "weight"
HEIGHT = "height"  # length lying down before 2 years, standing height after (WHO)
HEAD = "head_circumference"
BMI = "bmi"
INDICATORS: tuple[str, ...] = (WEIGHT, HEIGHT, HEAD, BMI)
SEXES: tuple[str, ...] = ("M", "F")  # as Holder.sex (INS)

# WHO's chart percentiles (P3, P15, P50, P85, P97).
PERCENTILES: tuple[int, ...] = (3, 15, 50, 85, 97)
DAYS_PER_MONTH = 365.25 / 12  # WHO: age in months = days / 30.4375
# A BMI point pairs a weight with the latest height measured at most this long before it.
BMI_HEIGHT_WINDOW = dt.timedelta(days=92)
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Lms:
    l: float  # noqa: E741 - the method's own name
    m: float
    s: float


def z_score(x: float, lms: Lms) -> float:
    """The LMS z-score of the measurement `x` (x and M > 0)."""
    if x <= 0 or lms.m <= 0:
        raise ValueError("LMS needs positive values")
    if lms.l == 0:
        return math.log(x / lms.m) / lms.s
    return float(((x / lms.m) ** lms.l - 1) / (lms.l * lms.s))


def value_at(z: float, lms: Lms) -> float:
    """The measurement whose z-score is `z` (the inverse of `z_score`)."""
    if lms.l == 0:
        return lms.m * math.exp(lms.s * z)
    base = 1 + lms.l * lms.s * z
    if base <= 0:
        raise ValueError("z outside the domain of this LMS")
    return float(lms.m * base ** (1 / lms.l))


def z_of_percentile(percentile: float) -> float:
    return _NORMAL.inv_cdf(percentile / 100)


def percentile_of(z: float) -> float:
    return _NORMAL.cdf(z) * 100


@dataclass(frozen=True)
class Table:
    """One indicator for one sex: ages in days (ascending) and their LMS."""

    ages: tuple[float, ...]
    lms: tuple[Lms, ...]

    def __post_init__(self) -> None:
        if not self.ages or len(self.ages) != len(self.lms):
            raise ValueError("a table needs as many LMS rows as ages, at least one")
        if any(b <= a for a, b in zip(self.ages, self.ages[1:], strict=False)):
            raise ValueError("ages must be strictly ascending")

    @property
    def first_age(self) -> float:
        return self.ages[0]

    @property
    def last_age(self) -> float:
        return self.ages[-1]

    def at(self, age_days: float) -> Lms | None:
        """L, M, S at `age_days`, linearly interpolated; None outside the table (never guessed)."""
        if not self.first_age <= age_days <= self.last_age:
            return None
        i = bisect.bisect_left(self.ages, age_days)
        if self.ages[i] == age_days:
            return self.lms[i]
        a0, a1 = self.ages[i - 1], self.ages[i]
        p0, p1 = self.lms[i - 1], self.lms[i]
        t = (age_days - a0) / (a1 - a0)
        return Lms(p0.l + t * (p1.l - p0.l), p0.m + t * (p1.m - p0.m), p0.s + t * (p1.s - p0.s))


@dataclass(frozen=True)
class Reference:
    """A set of tables and where they come from (shown under every chart)."""

    source: str
    licence: str
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)

    def table(self, indicator: str, sex: str) -> Table | None:
        return self.tables.get((indicator, sex))


@dataclass(frozen=True)
class Point:
    """A child's measurement placed on a chart."""

    date: dt.date
    age_days: int
    value: float
    z: float | None = None  # None when the reference does not cover that age
    percentile: float | None = None


@dataclass(frozen=True)
class Curves:
    """Percentile curves of one indicator for one sex between two ages, and the child's points."""

    indicator: str
    sex: str
    start_day: float
    end_day: float
    lines: dict[int, list[tuple[float, float]]]  # percentile -> [(age in days, value)]
    points: list[Point]


def age_in_days(birth: dt.date, day: dt.date) -> int:
    return (day - birth).days


def chart_window(
    table: Table | None, points: Sequence[Point], today_age: int
) -> tuple[float, float]:
    """The ages shown: from birth (or the table's first age) to a little past the child's age or
    last point, rounded to a whole number of months or years, within the table."""
    last = max([today_age, *(p.age_days for p in points)])
    span = 730.5 if last > 5 * 365.25 else DAYS_PER_MONTH * 6
    end = math.ceil((last + 1) / span) * span
    start = 0.0
    if table is not None:
        start = max(start, table.first_age)
        end = min(end, table.last_age)
        end = max(end, min(start + span, table.last_age))
    return start, max(end, start + 1)


def curves(
    reference: Reference | None,
    indicator: str,
    sex: str,
    points: Sequence[Point],
    today_age: int,
    *,
    samples: int = 60,
) -> Curves:
    """The percentile lines (when the reference covers this indicator and sex) and the points,
    each with its z-score and percentile where the reference covers its age."""
    table = reference.table(indicator, sex) if reference is not None else None
    start, end = chart_window(table, points, today_age)
    lines: dict[int, list[tuple[float, float]]] = {}
    if table is not None:
        ages = [start + (end - start) * i / samples for i in range(samples + 1)]
        for p in PERCENTILES:
            z = z_of_percentile(p)
            lines[p] = [(a, value_at(z, lms)) for a in ages if (lms := table.at(a)) is not None]
    placed = []
    for point in points:
        lms = table.at(point.age_days) if table is not None else None
        if lms is None:
            placed.append(point)
            continue
        z = z_score(point.value, lms)
        placed.append(
            Point(point.date, point.age_days, point.value, round(z, 2), round(percentile_of(z), 1))
        )
    return Curves(indicator, sex, start, end, lines, placed)


def child_points(
    birth: dt.date, measurements: Iterable[tuple[dt.date, str, float]]
) -> dict[str, list[Point]]:
    """A child's points per indicator, oldest first, from (date, kind, value) measurements.

    BMI is derived (issue 7): each weight with the latest height measured on or before its day,
    at most `BMI_HEIGHT_WINDOW` earlier. Measurements before birth are ignored.
    """
    found: dict[str, list[Point]] = {name: [] for name in INDICATORS}
    heights: list[tuple[dt.date, float]] = []
    weights: list[tuple[dt.date, float]] = []
    for day, kind, value in sorted(measurements):
        if day < birth or kind not in (WEIGHT, HEIGHT, HEAD):
            continue
        found[kind].append(Point(day, age_in_days(birth, day), value))
        if kind == HEIGHT:
            heights.append((day, value))
        elif kind == WEIGHT:
            weights.append((day, value))
    for day, weight in weights:
        usable = [(d, h) for d, h in heights if d <= day and day - d <= BMI_HEIGHT_WINDOW]
        if usable:
            height = usable[-1][1] / 100
            found[BMI].append(Point(day, age_in_days(birth, day), round(weight / height**2, 1)))
    return found
