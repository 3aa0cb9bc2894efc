"""Pure rules of appointments (SRV-2): dates and times as people type them, checked.

A time without an offset is read in the appointment's time zone (Europe/Paris by default); a time
that does not exist there (the hour skipped when clocks go forward) is refused rather than moved.
New appointments start in the future, end after they start, and stay within plausible bounds.
The numbers are Carnet decisions (the sources are silent), kept here as named defaults.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Carnet decisions: an appointment lasts at most 31 days, is booked at most 10 years ahead, has at
# most 5 reminders, each at most 60 days before it.
MAX_DURATION = dt.timedelta(days=31)
MAX_AHEAD = dt.timedelta(days=3660)
MAX_REMINDERS = 5
MAX_REMINDER_OFFSET = dt.timedelta(days=60)
DEFAULT_DURATION = dt.timedelta(minutes=30)
AUTHOR_KINDS = ("holder", "representative", "caregiver", "professional", "app")

_ZONE_RE = re.compile(r"^[A-Za-z]+(?:/[A-Za-z0-9_+-]+){0,2}$|^UTC$")


class Problem(ValueError):
    """What is wrong with one field, in words meant for the person who typed it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def zone(name: str) -> ZoneInfo:
    if not _ZONE_RE.match(name or ""):
        raise Problem("timezone", "Unknown time zone; use a name such as Europe/Paris.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Problem("timezone", "Unknown time zone; use a name such as Europe/Paris.") from None


def parse_instant(text: str, field: str, tz: ZoneInfo) -> dt.datetime:
    """`2026-03-02T10:00` (read in `tz`) or with an offset (`…+01:00`, `…Z`), as UTC."""
    value = (text or "").strip()
    if not value:
        raise Problem(field, "A date and time is required, e.g. 2026-03-02T10:00.")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise Problem(
            field, f"{value!r} is not a possible date and time; write e.g. 2026-03-02T10:00."
        ) from None
    if "T" not in value.replace(" ", "T", 1):
        raise Problem(field, "Give the time too, e.g. 2026-03-02T10:00.")
    if parsed.tzinfo is None:
        local = parsed.replace(tzinfo=tz)
        back = local.astimezone(dt.UTC).astimezone(tz)
        if back.replace(tzinfo=None) != parsed:
            raise Problem(
                field, f"{value} does not exist in {tz.key} (the clocks go forward that night)."
            )
        parsed = local
    return parsed.astimezone(dt.UTC)


def reminder_offsets(values: list[int]) -> list[int]:
    """Distinct offsets in minutes before the start, largest first."""
    if len(values) > MAX_REMINDERS:
        raise Problem("reminders", f"At most {MAX_REMINDERS} reminders per appointment.")
    limit = int(MAX_REMINDER_OFFSET.total_seconds() // 60)
    for value in values:
        if not 0 <= value <= limit:
            raise Problem(
                "reminders", f"A reminder is between 0 and {limit} minutes before the appointment."
            )
    return sorted(set(values), reverse=True)


@dataclass(frozen=True)
class When:
    start: dt.datetime
    end: dt.datetime


def check_when(
    start: dt.datetime, end: dt.datetime | None, now: dt.datetime, *, is_new: bool
) -> When:
    """SRV-2 bad input: an appointment in the past (new ones), ending before it starts, too long,
    or absurdly far ahead is refused."""
    finish = end if end is not None else start + DEFAULT_DURATION
    if finish <= start:
        raise Problem("end", "The appointment must end after it starts.")
    if finish - start > MAX_DURATION:
        raise Problem("end", f"An appointment lasts at most {MAX_DURATION.days} days.")
    if is_new and start < now:
        raise Problem("start", "This date and time has passed: appointments are in the future.")
    if start > now + MAX_AHEAD:
        raise Problem("start", "That is more than 10 years ahead: check the year.")
    return When(start, finish)


def reminder_due(start: dt.datetime, offset_minutes: int) -> dt.datetime:
    return start - dt.timedelta(minutes=offset_minutes)
