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


# REP-3: the majority notice is printed and e-mailed in the same pass as the majority itself.
NOTICES_LEAVE_WITH = ("letters.render", "outbox.deliver")


@job("accounts.majority", period="daily", before=NOTICES_LEAVE_WITH)
def majority(ctx: JobContext) -> str:
    """REP-3: on the 18th birthday (or the first run after it) representatives lose access and the
    young adult receives the majority notice, with a provisional code for the same space. Notices
    nobody could be sent are counted for the operator (`carnet letters undeliverable`)."""
    vault = Vault.from_settings(ctx.settings)
    total = undeliverable = 0
    while True:
        with ctx.database.transaction() as session:
            done = reach_majority(session, vault, ctx.settings, ctx.as_of, limit=BATCH)
        total += done.processed
        undeliverable += done.undeliverable
        if done.processed < BATCH:
            summary = f"{total} young adult(s) came of age"
            if undeliverable:
                summary += (
                    f"; {undeliverable} notice(s) undeliverable (no address): "
                    "see `carnet letters undeliverable`"
                )
            return summary
