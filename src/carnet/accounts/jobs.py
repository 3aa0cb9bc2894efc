"""Daily lifecycle jobs of the accounts domain (rules LC-3, LC-5, LC-6, LC-8), and forgetting
old throttle rows (LC-2, LC-4)."""

from __future__ import annotations

import datetime as dt

from carnet import clock
from carnet.accounts import lifecycle
from carnet.accounts import purge as purge_service
from carnet.auth import throttle
from carnet.jobs.service import JobContext, job
from carnet.vault.service import Vault


@job("accounts.open-due", period="daily")
def open_due(ctx: JobContext) -> str:
    """LC-3: spaces whose opposition deadline has passed open, in committed batches."""
    total = 0
    while True:
        with ctx.database.transaction() as session:
            opened = lifecycle.open_due_spaces(session, ctx.as_of, limit=5000)
        total += opened
        if opened < 5000:
            return f"{total} space(s) opened"


@job("accounts.suspensions", period="daily")
def close_suspended(ctx: JobContext) -> str:
    """LC-6: suspended spaces without objection for 6 weeks are closed."""
    with ctx.database.transaction() as session:
        closed = lifecycle.close_expired_suspensions(session, ctx.settings, ctx.as_of)
    return f"{closed} suspended space(s) closed"


@job("accounts.purge", period="daily")
def purge(ctx: JobContext) -> str:
    """LC-5, LC-8: purge on request (next run) or after the archive period."""
    vault = Vault.from_settings(ctx.settings)
    total = 0
    while True:
        with ctx.database.transaction() as session:
            purged = purge_service.purge_due(session, vault, ctx.settings, ctx.as_of, limit=500)
        total += purged
        if purged < 500:
            if total:
                ctx.database.flush_erasures()
            return f"{total} space(s) purged"


@job("accounts.throttles", period="daily")
def forget_throttles(ctx: JobContext) -> str:
    """Throttle rows (`auth.throttle`) nobody waits on any more are deleted, so the table keeps
    no trace of old attempts beyond what throttling needs."""
    settings = ctx.settings
    older_than = max(
        dt.timedelta(days=2),
        dt.timedelta(minutes=settings.client_forget_minutes),
        dt.timedelta(minutes=settings.login_lock_minutes),
    )
    with ctx.database.transaction() as session:
        forgotten = throttle.forget_stale(session, clock.now(), older_than=older_than)
    return f"{forgotten} throttle row(s) forgotten"
