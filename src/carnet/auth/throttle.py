"""Slowing down whoever guesses secrets: per client and for everyone, never per target.

Provisional codes (LC-2, LC-4), passwords and e-mailed login codes are typed by people who are not
logged in. A lock per *target* (a NIR, a username) lets a stranger lock anyone out by typing wrong
codes for them, again and again, and tells the stranger that the target exists (the lock answers
differently from a wrong code). Carnet decision: failures are counted instead

- per client (`auth.rules.client_group`: an IPv4 address or an IPv6 /64): the first
  `client_free_failures` are free, then every further failure makes that client wait 1, 2, 4 …
  seconds, at most `client_max_wait_seconds`; the count is forgotten after `client_forget_minutes`
  without a failure. A client that keeps guessing gets about 12 tries an hour at the longest wait;
- for everyone together, per scope: at most `global_failures_per_window` failures per
  `global_window_seconds`; beyond that every client waits until the window ends, a few seconds.
  It bounds what an attacker with many addresses can try, and its wait is short, so the right code
  from the right person goes through within seconds even then.

What is checked never changes the answer's shape: a refusal here depends only on the client and
the global count, never on who the attempt was about. Scopes (`CODES`, `LOGIN`, `RENEWAL`,
`RECOVERY`) keep a password-spraying attack from slowing oppositions down. The rows live in the `Throttle` table,
shared by every app server; keys hold keyed hashes of client addresses, never the addresses.

The client address is `request.client.host` (`carnet.http.client_address`): behind a proxy listed
in `forwarded_allow_ips`, the server (uvicorn) has already replaced it by the X-Forwarded-For
address; Carnet never reads that header itself, since anyone can write it.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carnet import clock
from carnet.auth import rules
from carnet.auth.models import Throttle
from carnet.config import Settings
from carnet.errors import CarnetError
from carnet.vault.service import Vault

CODES = "codes"  # provisional codes: opposition (LC-2), activation (LC-4)
LOGIN = "login"  # passwords and e-mailed login codes, of every kind of principal
RENEWAL = "renewal"  # asking for a new provisional code: every request counts
RECOVERY = "recovery"  # asking for a password recovery code: every request counts
THROTTLE_KEY = "throttle"  # the system key of the keyed hashes in throttle keys


class TooManyAttempts(CarnetError):
    """Too many failures from this client, or from everyone: wait (HTTP 429 + Retry-After)."""

    code = "too-many-attempts"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def too_many(seconds: int) -> TooManyAttempts:
    """The refusal, saying how long to wait (the portal says it again in the person's language)."""
    seconds = max(1, seconds)
    wait = f"{seconds} second(s)" if seconds < 60 else f"{math.ceil(seconds / 60)} minute(s)"
    return TooManyAttempts(
        f"Too many failed attempts: wait {wait} before trying again.", retry_after=seconds
    )


def refusal(
    session: Session, vault: Vault, settings: Settings, scope: str, client: str
) -> TooManyAttempts | None:
    """Whether this client, or everyone, must wait before the next attempt in `scope`."""
    now = clock.now()
    waits = [0]
    own = session.get(Throttle, client_key(session, vault, scope, client))
    if own is not None and own.locked_until is not None and own.locked_until > now:
        waits.append(_seconds(own.locked_until - now))
    everyone = session.get(Throttle, global_key(scope))
    if everyone is not None:
        end = everyone.window_start + dt.timedelta(seconds=settings.global_window_seconds)
        if everyone.failures >= settings.global_failures_per_window and end > now:
            waits.append(_seconds(end - now))
    wait = max(waits)
    return too_many(wait) if wait > 0 else None


def note_failure(
    session: Session, vault: Vault, settings: Settings, scope: str, client: str
) -> None:
    """Count a failure of `client` in `scope`, and in the scope's global budget."""
    now = clock.now()
    own = locked_row(session, client_key(session, vault, scope, client))
    if now - own.window_start > dt.timedelta(minutes=settings.client_forget_minutes):
        own.failures = 0
    own.failures += 1
    own.window_start = now  # here: the last failure, from which the count is forgotten
    wait = rules.client_wait_seconds(
        own.failures, settings.client_free_failures, settings.client_max_wait_seconds
    )
    own.locked_until = now + dt.timedelta(seconds=wait) if wait else None
    everyone = locked_row(session, global_key(scope))
    if now - everyone.window_start >= dt.timedelta(seconds=settings.global_window_seconds):
        everyone.failures = 0
        everyone.window_start = now
    everyone.failures += 1
    session.flush()


def client_key(session: Session, vault: Vault, scope: str, client: str) -> str:
    """`<scope>:client:<keyed hash of the client's group>`: no address is stored in clear."""
    group = rules.client_group(client)
    return f"{scope}:client:{vault.keyed_hash(session, THROTTLE_KEY, f'client|{group}')[:40]}"


def global_key(scope: str) -> str:
    return f"{scope}:global"


def locked_row(session: Session, key: str) -> Throttle:
    """The row of `key`, created when missing, locked until the commit (PostgreSQL), so that
    concurrent failures on every app server are all counted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Throttle)
        .values(key=key, failures=0, window_start=clock.now(), locked_until=None)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return session.scalars(
        select(Throttle)
        .where(Throttle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def forget_stale(session: Session, now: dt.datetime, *, older_than: dt.timedelta) -> int:
    """Delete rows nobody waits on whose last change is older than `older_than` (daily job)."""
    cutoff = now - older_than
    result = session.execute(
        delete(Throttle).where(
            Throttle.window_start < cutoff,
            (Throttle.locked_until.is_(None)) | (Throttle.locked_until < now),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _seconds(delta: dt.timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))
