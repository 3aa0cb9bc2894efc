"""Daily jobs of representatives and caregivers (rules REP-1, REP-3, REP-4).

Registered on import; its domain declares it (`carnet/accounts/domain.py`).
"""

from __future__ import annotations

from carnet.accounts.family import invitations
from carnet.accounts.family.majority import reach_majority
from carnet.jobs.service import JobContext, job
from carnet.vault.service import Vault

BATCH = 1000


@job("accounts.invitations-expire", period="daily")
def expire_invitations(ctx: JobContext) -> str:
    """REP-1, REP-4: pending invitations past their expiry become "expired"."""
    total = 0
    while True:
        with ctx.database.transaction() as session:
            expired = invitations.expire_invitations(session, ctx.now, limit=BATCH)
        total += expired
        if expired < BATCH:
            return f"{total} invitation(s) expired"


@job("accounts.majority", period="daily")
def majority(ctx: JobContext) -> str:
    """REP-3: on the 18th birthday (or the first run after it) representatives lose access and the
    young adult receives a provisional code for the same space."""
    vault = Vault.from_settings(ctx.settings)
    total = 0
    while True:
        with ctx.database.transaction() as session:
            done = reach_majority(session, vault, ctx.settings, ctx.as_of, limit=BATCH)
        total += done
        if done < BATCH:
            return f"{total} young adult(s) came of age"
