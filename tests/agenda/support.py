"""What the agenda tests share: the profile tests' cast (holder, care team, outsider, blocked),
and appointment bodies at a given number of days from now, in Paris time."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from carnet import clock

API = "/api/v1"
PARIS = ZoneInfo("Europe/Paris")
MARKER = "ZZAGENDAQX"  # must never appear in a raw row, an e-mail or a log


def local(days: int, hour: int = 10, minute: int = 0) -> str:
    day = clock.now().astimezone(PARIS).date() + dt.timedelta(days=days)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


def body(days: int = 3, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": f"Cardiologue {MARKER}",
        "start": local(days, 10),
        "end": local(days, 10, 30),
        "location": "Hôpital Nord",
        "professional": "Dr Cœur",
        "notes": f"Apporter l'ECG {MARKER}",
        "reminders": [1440],
    }
    values.update(overrides)
    return values
