"""Loading the growth reference the operator configures (`CARNET_GROWTH_REFERENCE_FILE`).

Carnet ships no growth reference data (docs/growth-curves.md: the French AFPA-CRESS/Inserm-CGM 2018
tables are not openly licensed, WHO's own packages are GPL, and no PyPI package offers the WHO
tables under a permissive licence). The operator provides a CSV file:

    # source: WHO Child Growth Standards 2006 (0-5 y) and Growth Reference 2007 (5-19 y), who.int
    # licence: as granted by the source
    indicator,sex,age_days,L,M,S
    weight,M,0,0.3487,3.3464,0.14602
    ...

`age_months` may replace `age_days` (months of 30.4375 days, as WHO's 2007 tables). Indicators:
weight (kg), height (cm), head_circumference (cm), bmi (kg/m2); sex M or F. The `# source:` and
`# licence:` lines are shown under every chart. A broken file is a configuration error naming the
line, never a page error.
"""

from __future__ import annotations

import csv
import itertools
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

from carnet.errors import ConfigurationError
from carnet.profile import growth

_CACHE: dict[Path, tuple[float, growth.Reference]] = {}
_LOCK = threading.Lock()
_AGE_COLUMNS = {"age_days": 1.0, "age_months": growth.DAYS_PER_MONTH}
_HEADER = "the header must name indicator, sex, age_days (or age_months), L, M, S."

# What `check` holds plausible (Carnet decision): a median outside these bounds is a wrong unit
# (grams, metres) or a wrong column; beyond 20 years is not a child's chart; an S past 0.5 or an
# |L| past 5 is no growth reference's (WHO's S stay under 0.2, their |L| under 3).
MEDIAN_BOUNDS = {
    growth.WEIGHT: (0.3, 200.0, "kg"),
    growth.HEIGHT: (30.0, 230.0, "cm"),
    growth.HEAD: (20.0, 70.0, "cm"),
    growth.BMI: (8.0, 60.0, "kg/m2"),
}
LAST_AGE_DAYS = 20 * 365.25
MAX_S = 0.5
MAX_ABS_L = 5.0


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a reference file, at a line of it when it has one."""

    message: str
    line: int | None = None

    def where(self, name: str) -> str:
        return f"{name}, line {self.line}: {self.message}" if self.line else f"{name}: {self.message}"


@dataclass
class _Read:
    """A file read row by row: what it holds and every problem found on the way."""

    meta: dict[str, str] = field(default_factory=dict)
    rows: dict[tuple[str, str], list[tuple[float, growth.Lms, int]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _read(text: str) -> _Read:
    """Every row of `text`, in file order, and the problems of the header and of each row."""
    read = _Read()
    body: list[tuple[int, str]] = []  # (line number in the file, line)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            key, sep, value = stripped.lstrip("#").partition(":")
            key = key.strip().lower()
            if sep and key in ("source", "licence", "license"):
                read.meta["licence" if key == "license" else key] = value.strip()
        elif stripped:
            body.append((number, line))
    parsed = list(csv.reader(line for _, line in body))
    header = [h.strip() for h in parsed[0]] if parsed else []
    age_column = next((c for c in _AGE_COLUMNS if c in header), None)
    if {"indicator", "sex", "L", "M", "S"} - set(header) or age_column is None:
        read.problems.append(Problem(_HEADER, body[0][0] if body else None))
        return read
    seen: dict[tuple[str, str, float], int] = {}
    for (number, _line), values in zip(body[1:], parsed[1:], strict=True):
        row = dict(zip(header, values, strict=False))
        problem = _row_problem(row, age_column)
        if isinstance(problem, str):
            read.problems.append(Problem(problem, number))
            continue
        indicator, sex, age, lms = problem
        first = seen.setdefault((indicator, sex, age), number)
        if first != number:
            read.problems.append(
                Problem(f"{indicator} ({sex}) has the same age twice (first on line {first}).", number)
            )
            continue
        read.rows.setdefault((indicator, sex), []).append((age, lms, number))
    return read


def _row_problem(
    row: dict[str, str], age_column: str
) -> str | tuple[str, str, float, growth.Lms]:
    """The row's indicator, sex, age in days and LMS, or what is wrong with it."""
    indicator = (row.get("indicator") or "").strip()
    sex = (row.get("sex") or "").strip().upper()
    if indicator not in growth.INDICATORS:
        return f"unknown indicator {indicator!r} (expected {', '.join(growth.INDICATORS)})."
    if sex not in growth.SEXES:
        return "sex must be M or F."
    try:
        age = float(row[age_column]) * _AGE_COLUMNS[age_column]
        lms = growth.Lms(float(row["L"]), float(row["M"]), float(row["S"]))
    except (KeyError, TypeError, ValueError):
        return "age, L, M and S must be numbers."
    if not all(math.isfinite(v) for v in (age, lms.l, lms.m, lms.s)):
        return "age, L, M and S must be finite numbers."
    if age < 0 or lms.m <= 0 or lms.s <= 0:
        return "the age cannot be negative; M and S must be > 0."
    return indicator, sex, age, lms


def parse(text: str, name: str = "growth reference") -> growth.Reference:
    """The reference described by `text` (see the module docstring); the first problem found
    is a configuration error naming the line."""
    read = _read(text)
    if read.problems:
        raise ConfigurationError(read.problems[0].where(name))
    tables: dict[tuple[str, str], growth.Table] = {}
    for key, items in read.rows.items():
        items.sort(key=lambda item: item[0])
        tables[key] = growth.Table(tuple(a for a, _, _ in items), tuple(v for _, v, _ in items))
    if not tables:
        raise ConfigurationError(f"{name}: no table in the file.")
    return growth.Reference(
        source=read.meta.get("source", "unnamed growth reference"),
        licence=read.meta.get("licence", "not stated"),
        tables=tables,
    )


@dataclass(frozen=True)
class Report:
    """What `carnet growth check` found: errors make the file unfit, warnings do not."""

    errors: list[Problem]
    warnings: list[Problem]
    reference: growth.Reference | None


def check(text: str, name: str = "growth reference") -> Report:
    """Everything `parse` refuses, on every line rather than the first, and what it would accept
    but no real reference holds: a median in another unit, percentiles P3…P97 that cannot be
    drawn in order, an age past 20 years, an indicator given for one sex only."""
    read = _read(text)
    errors = list(read.problems)
    warnings: list[Problem] = []
    z_values = [growth.z_of_percentile(p) for p in growth.PERCENTILES]
    for (indicator, _sex), items in read.rows.items():
        low, high, unit = MEDIAN_BOUNDS[indicator]
        for age, lms, number in items:
            if not low <= lms.m <= high:
                errors.append(Problem(
                    f"{indicator} median M = {lms.m:g} is outside {low:g}-{high:g} {unit}: "
                    "is the unit right?", number,
                ))  # fmt: skip
            elif lms.s > MAX_S or abs(lms.l) > MAX_ABS_L:
                errors.append(Problem(
                    f"L = {lms.l:g} or S = {lms.s:g} is beyond any growth reference "
                    f"(|L| <= {MAX_ABS_L:g}, S <= {MAX_S:g}): are the columns in order?", number,
                ))  # fmt: skip
            elif not _ordered(lms, z_values):
                errors.append(Problem(
                    f"the percentiles P3 to P97 cannot be drawn in order from L = {lms.l:g}, "
                    f"M = {lms.m:g}, S = {lms.s:g}.", number,
                ))  # fmt: skip
            if age > LAST_AGE_DAYS:
                errors.append(Problem(
                    f"age {age:g} days is past 20 years: is the age column (days or months) "
                    "right?", number,
                ))  # fmt: skip
    present = {indicator for indicator, _sex in read.rows}
    for indicator in growth.INDICATORS:
        sexes = [sex for sex in growth.SEXES if (indicator, sex) in read.rows]
        if indicator in present and len(sexes) == 1:
            missing = "F" if sexes == ["M"] else "M"
            errors.append(Problem(
                f"{indicator} is given for sex {sexes[0]} only: add the rows of sex {missing}."
            ))  # fmt: skip
        elif indicator not in present:
            warnings.append(Problem(f"no {indicator} table: those charts will show no percentiles."))
    for key in ("source", "licence"):
        if key not in read.meta:
            warnings.append(Problem(
                f"no '# {key}:' line: the charts will say "
                f"'{'unnamed growth reference' if key == 'source' else 'not stated'}'."
            ))  # fmt: skip
    if not read.rows and not errors:
        errors.append(Problem("no table in the file."))
    reference = None if errors else parse(text, name)
    return Report(sorted(errors, key=lambda p: p.line or 0), warnings, reference)


def _ordered(lms: growth.Lms, z_values: list[float]) -> bool:
    """P3 < P15 < P50 < P85 < P97 are all defined at this LMS."""
    try:
        values = [growth.value_at(z, lms) for z in z_values]
    except (ValueError, OverflowError, ZeroDivisionError):
        return False
    return all(math.isfinite(v) for v in values) and all(
        a < b for a, b in itertools.pairwise(values)
    )


def load(path: Path | None) -> growth.Reference | None:
    """The reference in `path` (read again when the file changes), or None when unset."""
    if path is None:
        return None
    resolved = path.resolve()
    try:
        mtime = resolved.stat().st_mtime
    except OSError:
        raise ConfigurationError(f"CARNET_GROWTH_REFERENCE_FILE: cannot read {path}.") from None
    with _LOCK:
        cached = _CACHE.get(resolved)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    reference = parse(resolved.read_text(encoding="utf-8"), resolved.name)
    with _LOCK:
        _CACHE[resolved] = (mtime, reference)
    return reference
