"""A synthetic growth reference for tests: smooth LMS tables in Carnet's CSV format.

The values are made up (plausible shapes, not a real reference): Carnet ships no growth data
(docs/growth-curves.md), so tests write this file and point CARNET_GROWTH_REFERENCE_FILE at it.
"""

from __future__ import annotations

import math
from pathlib import Path

SOURCE = "Carnet test data (synthetic, not a growth reference)"
LICENCE = "Apache-2.0 (made up for tests)"
LAST_DAY = 19 * 365  # up to 19 years, like WHO 2006 + 2007


def median(indicator: str, sex: str, day: float) -> float:
    years = day / 365.25
    boost = 1.03 if sex == "M" else 1.0
    if indicator == "weight":
        return boost * (3.3 + 6.5 * (1 - math.exp(-years * 1.6)) + 2.2 * years)
    if indicator == "height":
        return boost * (50 + 26 * (1 - math.exp(-years * 1.5)) + 5.6 * years)
    if indicator == "head_circumference":
        return boost * (34.5 + 15 * (1 - math.exp(-years * 1.2)))
    return 13.5 + 3 * math.exp(-((years - 0.8) ** 2)) + 0.3 * years


def write_reference(path: Path, step: int = 30) -> Path:
    lines = [f"# source: {SOURCE}", f"# licence: {LICENCE}", "indicator,sex,age_days,L,M,S"]
    for indicator in ("weight", "height", "head_circumference", "bmi"):
        for sex in ("M", "F"):
            last = 5 * 365 if indicator == "head_circumference" else LAST_DAY
            for day in range(0, last + 1, step):
                l_param = 0.2 - 0.4 * day / LAST_DAY if indicator != "height" else 1.0
                s_param = 0.12 if indicator == "weight" else 0.04 if indicator != "bmi" else 0.09
                m_param = median(indicator, sex, day)
                lines.append(f"{indicator},{sex},{day},{l_param:.4f},{m_param:.4f},{s_param:.5f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
