"""Pure document rules (DOC-1…DOC-7): confidentiality defaults, announcement timing, sizes."""

from __future__ import annotations

import datetime as dt

from carnet.documents import sniff

# DOC-4: the holder is told within 2 weeks; the document becomes visible after 1 month.
ANNOUNCEMENT_NOTICE_DELAY = dt.timedelta(weeks=2)


def one_month_after(instant: dt.datetime) -> dt.datetime:
    """DOC-4: "1 month after deposit", same day next month (end of month when it is shorter)."""
    year, month = (
        (instant.year + 1, 1) if instant.month == 12 else (instant.year, instant.month + 1)
    )
    for day in (instant.day, 30, 29, 28):
        try:
            return instant.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def upload_category_sensitivity(category: str) -> str:
    """Holder uploads carry a category only: DOC_ADM is administrative, all others general."""
    return "administrative" if category == "DOC_ADM" else "general"


def type_problem(sniffed: str | None, declared: str | None, allowed: frozenset[str]) -> str | None:
    """DOC-1: the sniffed type must be accepted and agree with the declared one."""
    if sniffed is None:
        return "the content is not a format Carnet accepts"
    if sniffed not in allowed:
        return f"{sniffed} documents are not accepted here"
    wanted = sniff.normalize_declared(declared)
    if wanted is not None and wanted != sniffed and wanted != "application/octet-stream":
        return f"the content is {sniffed} but was declared as {wanted}"
    return None
