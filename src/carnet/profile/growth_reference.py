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
import math
import threading
from pathlib import Path

from carnet.errors import ConfigurationError
from carnet.profile import growth

_CACHE: dict[Path, tuple[float, growth.Reference]] = {}
_LOCK = threading.Lock()
_AGE_COLUMNS = {"age_days": 1.0, "age_months": growth.DAYS_PER_MONTH}


def parse(text: str, name: str = "growth reference") -> growth.Reference:
    """The reference described by `text` (see the module docstring)."""
    meta: dict[str, str] = {}
    body: list[tuple[int, str]] = []  # (line number in the file, line)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            key, sep, value = stripped.lstrip("#").partition(":")
            key = key.strip().lower()
            if sep and key in ("source", "licence", "license"):
                meta["licence" if key == "license" else key] = value.strip()
        elif stripped:
            body.append((number, line))
    parsed = list(csv.reader(line for _, line in body))
    header = [h.strip() for h in parsed[0]] if parsed else []
    age_column = next((c for c in _AGE_COLUMNS if c in header), None)
    if {"indicator", "sex", "L", "M", "S"} - set(header) or age_column is None:
        raise ConfigurationError(
            f"{name}: the header must name indicator, sex, age_days (or age_months), L, M, S."
        )
    rows: dict[tuple[str, str], list[tuple[float, growth.Lms]]] = {}
    for (number, _line), values in zip(body[1:], parsed[1:], strict=True):
        row = dict(zip(header, values, strict=False))
        where = f"{name}, line {number}"
        indicator = (row.get("indicator") or "").strip()
        sex = (row.get("sex") or "").strip().upper()
        if indicator not in growth.INDICATORS:
            raise ConfigurationError(
                f"{where}: unknown indicator {indicator!r} "
                f"(expected {', '.join(growth.INDICATORS)})."
            )
        if sex not in growth.SEXES:
            raise ConfigurationError(f"{where}: sex must be M or F.")
        try:
            age = float(row[age_column]) * _AGE_COLUMNS[age_column]
            lms = growth.Lms(float(row["L"]), float(row["M"]), float(row["S"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError(f"{where}: age, L, M and S must be numbers.") from None
        if not all(math.isfinite(v) for v in (age, lms.l, lms.m, lms.s)):
            raise ConfigurationError(f"{where}: age, L, M and S must be finite numbers.")
        if age < 0 or lms.m <= 0 or lms.s <= 0:
            raise ConfigurationError(f"{where}: the age cannot be negative; M and S must be > 0.")
        rows.setdefault((indicator, sex), []).append((age, lms))
    tables: dict[tuple[str, str], growth.Table] = {}
    for (indicator, sex), items in rows.items():
        items.sort(key=lambda item: item[0])
        try:
            tables[(indicator, sex)] = growth.Table(
                tuple(a for a, _ in items), tuple(v for _, v in items)
            )
        except ValueError:
            raise ConfigurationError(
                f"{name}: {indicator} ({sex}) has the same age twice."
            ) from None
    if not tables:
        raise ConfigurationError(f"{name}: no table in the file.")
    return growth.Reference(
        source=meta.get("source", "unnamed growth reference"),
        licence=meta.get("licence", "not stated"),
        tables=tables,
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
