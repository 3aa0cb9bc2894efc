"""Growth charts as server-rendered SVG: the geometry of `profile.growth.Curves` (no JavaScript).

Only numbers and positions are computed here; `_growth_chart.html` writes the SVG with its title,
description and a data table, so the chart is readable without seeing it (WCAG 1.1.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from carnet.portal.i18n import Formatter
from carnet.profile import growth

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 44, 16, 44


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Line:
    percentile: int
    points: str  # "x,y x,y …" for <polyline>
    label_x: float
    label_y: float


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str  # what a pointer hover shows (<title>)


@dataclass(frozen=True)
class Chart:
    indicator: str
    width: int
    height: int
    plot: tuple[float, float, float, float]  # x0, y0, x1, y1 of the plotting area
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    lines: list[Line]
    dots: list[Dot]
    x_title: str
    has_reference: bool


def nice_step(span: float, wanted: int = 6) -> float:
    """A round step (1, 2 or 5 × 10^k) giving about `wanted` ticks over `span`."""
    raw = max(span, 1e-9) / wanted
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if raw <= factor * power:
            return factor * power
    return 10.0 * power


def age_label(days: float, fmt: Formatter) -> str:
    """An age as a parent reads it: in months before 2 years, then in years (and months)."""
    months = round(days / growth.DAYS_PER_MONTH)
    if months < 24:
        return fmt.ngettext("%(num)d month", "%(num)d months", months) % {"num": months}
    years, rest = divmod(months, 12)
    text = fmt.ngettext("%(num)d year", "%(num)d years", years) % {"num": years}
    if rest:
        text += " " + fmt.ngettext("%(num)d month", "%(num)d months", rest) % {"num": rest}
    return text


def build(curves: growth.Curves, fmt: Formatter) -> Chart:
    x0, y0, x1, y1 = LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM
    values = [v for line in curves.lines.values() for _a, v in line]
    values += [p.value for p in curves.points]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or 1.0
    step = nice_step(high - low + 2 * pad)
    v_min = math.floor((low - pad) / step) * step
    v_max = math.ceil((high + pad) / step) * step
    a_min, a_max = curves.start_day, curves.end_day

    def x(age: float) -> float:
        return round(x0 + (age - a_min) / (a_max - a_min) * (x1 - x0), 1)

    def y(value: float) -> float:
        return round(y1 - (value - v_min) / (v_max - v_min) * (y1 - y0), 1)

    months = (a_max - a_min) / growth.DAYS_PER_MONTH
    every = 3 if months <= 24 else 6 if months <= 48 else 12 if months <= 96 else 24
    first = math.ceil(a_min / growth.DAYS_PER_MONTH / every) * every
    x_ticks = []
    month = first
    while month * growth.DAYS_PER_MONTH <= a_max + 0.5:
        age = month * growth.DAYS_PER_MONTH
        x_ticks.append(Tick(x(age), age_label(age, fmt)))
        month += every
    y_ticks = []
    count = round((v_max - v_min) / step)
    for i in range(count + 1):
        value = v_min + i * step
        y_ticks.append(Tick(y(value), fmt.number(round(value, 6))))
    lines = []
    for percentile, line in sorted(curves.lines.items()):
        if not line:
            continue
        points = " ".join(f"{x(a)},{y(v)}" for a, v in line)
        last_age, last_value = line[-1]
        lines.append(Line(percentile, points, x(last_age) + 4, y(last_value) + 4))
    dots = [
        Dot(x(p.age_days), y(p.value), f"{fmt.date(p.date, 'medium')}: {fmt.number(p.value)}")
        for p in curves.points
        if a_min <= p.age_days <= a_max
    ]
    return Chart(
        indicator=curves.indicator,
        width=WIDTH,
        height=HEIGHT,
        plot=(x0, y0, x1, y1),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        lines=lines,
        dots=dots,
        x_title=fmt.gettext("Age"),
        has_reference=bool(curves.lines),
    )
