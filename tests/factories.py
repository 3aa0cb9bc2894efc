"""Small builders for rows most tests need (a holder owns a space; a professional reads it).

Plain functions rather than factory_boy's SQLAlchemy factories: each test has its own session, and a
function taking that session is simpler than rebinding a factory's session per test. A process-wide
counter keeps NIRs and RPPS numbers unique (also across threads).
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

from sqlalchemy.orm import Session

from carnet.accounts.models import Holder, Professional
from carnet.accounts.rules import make_nir, make_rpps

_counter = itertools.count(1)
_lock = threading.Lock()


def _next() -> int:
    with _lock:
        return next(_counter)


def make_holder(session: Session, **overrides: Any) -> Holder:
    """An active holder with a valid, unique NIR; added and flushed (not committed)."""
    n = _next()
    values: dict[str, Any] = {
        # The order within a commune is 001-999; further counters move on to the next commune.
        "nir": make_nir(1, 1980, 1, "75", 1 + (n - 1) // 999 % 999, 1 + (n - 1) % 999),
        "birth_name": "TEST",
        "first_names": "Test",
        "birth_date": dt.date(1980, 1, 1),
        "sex": "M",
        "state": "active",
    }
    values.update(overrides)
    holder = Holder(**values)
    session.add(holder)
    session.flush()
    return holder


def make_professional(session: Session, **overrides: Any) -> Professional:
    """A physician (TRE_G15 profession "10") with a valid, unique RPPS; added and flushed."""
    n = _next()
    values: dict[str, Any] = {
        "rpps": make_rpps(10_000_000 + n),
        "profession_code": "10",
        "name": f"Dr Test {n}",
    }
    values.update(overrides)
    professional = Professional(**values)
    session.add(professional)
    session.flush()
    return professional
