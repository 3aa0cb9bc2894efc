"""Rates shared by every app server, counted in the `throttles` table (as login failures are):
the holder side's upload rate (DOC-1), and the renewals of provisional codes asked for one person
(LC-4, `count_daily`).

A fixed window per key: the first use opens a window of `window`; at most `limit` uses fit in it.
The row is locked while it is counted (PostgreSQL `FOR UPDATE`; SQLite writes one at a time), so
parallel requests of one principal are counted one after the other, never twice as the same slot.
The count belongs to the caller's transaction: a request refused later rolls its use back.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carnet import clock
from carnet.auth.models import Throttle


def wait_for(session: Session, key: str, *, limit: int, window: dt.timedelta) -> int | None:
    """Seconds before `key` may be used again, or None when a use fits now (nothing counted)."""
    row = session.get(Throttle, key)
    return None if row is None else _wait(row, limit, window, clock.now())


def use(session: Session, key: str, *, limit: int, window: dt.timedelta) -> int | None:
    """Count one use of `key`; returns None when it fits, or the seconds to wait (not counted)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = clock.now()
    session.execute(
        insert(Throttle)
        .values(key=key, failures=0, window_start=now, locked_until=None)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.scalars(
        select(Throttle)
        .where(Throttle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if now - row.window_start >= window:
        row.failures, row.window_start = 0, now
    wait = _wait(row, limit, window, now)
    if wait is None:
        row.failures += 1
        session.flush()
    return wait


def count_daily(session: Session, key: str, *, limit: int) -> bool:
    """Count one use of `key` when fewer than `limit` fit in its day (LC-4: renewals per person);
    False, nothing counted, once the day's uses are spent. The day starts at its first use."""
    now = clock.now()
    row = session.get(Throttle, key)
    if row is None:
        session.add(Throttle(key=key, failures=1, window_start=now))
        return True
    if now - row.window_start > dt.timedelta(days=1):
        row.window_start, row.failures = now, 1
        return True
    if row.failures >= limit:
        return False
    row.failures += 1
    return True


def _wait(row: Throttle, limit: int, window: dt.timedelta, now: dt.datetime) -> int | None:
    ends = row.window_start + window
    if now >= ends or row.failures < limit:
        return None
    return max(1, math.ceil((ends - now).total_seconds()))
