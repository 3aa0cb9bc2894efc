"""One injectable clock, so that `--as-of` and tests move time for every rule at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """The current instant in UTC (timezone-aware)."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.UTC)


def today(tz: str = "Europe/Paris") -> dt.date:
    """The current calendar day where the day-based rules are counted (Europe/Paris by default)."""
    return now().astimezone(ZoneInfo(tz)).date()


def start_of_day(day: dt.date, tz: str = "Europe/Paris") -> dt.datetime:
    """Midnight of `day` in `tz`, as a UTC instant."""
    return dt.datetime.combine(day, dt.time(0, 0), ZoneInfo(tz)).astimezone(dt.UTC)


@contextmanager
def frozen_at(instant: dt.datetime) -> Iterator[None]:
    """Freeze the clock (used by `--as-of` and by tests)."""
    global _frozen
    previous = _frozen
    _frozen = instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
    try:
        yield
    finally:
        _frozen = previous
