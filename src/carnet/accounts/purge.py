"""Purge (rule LC-8): shred the holder's key, delete their rows, blobs, mail and letters, keep only
a tombstone (hashed INS, dates) so that the roster does not create the space again.

Domains holding a holder's data outside foreign-key cascades register a hook here
(`register_purge_hook`); the purge imports the modules that do before it runs.
"""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carnet.accounts import letters, rules
from carnet.accounts.lifecycle import end_space_access, today, transition
from carnet.accounts.models import Holder, Representation, Tombstone
from carnet.auth.principal import SYSTEM, Principal
from carnet.auth.service import forget_credentials
from carnet.config import Settings
from carnet.notifications.service import delete_for_holder
from carnet.vault.service import Vault

TOMBSTONE_KEY = "tombstones"


def tombstone_hash(session: Session, vault: Vault, nir: str) -> str:
    return vault.keyed_hash(session, TOMBSTONE_KEY, f"ins|{rules.normalize_nir(nir)}")


def purge(
    session: Session, vault: Vault, settings: Settings, holder: Holder, actor: Principal = SYSTEM
) -> None:
    """LC-8: shred the key, delete rows and blobs, keep only a tombstone (hashed INS, dates)."""
    transition(session, holder, "purge", actor, reason="erasure")
    end_space_access(session, holder, actor, "space-purged")
    holder_id = holder.id
    session.merge(
        Tombstone(
            nir_hash=tombstone_hash(session, vault, holder.nir),
            closed_on=holder.closed_on,
            purged_on=today(settings),
            reason=holder.close_reason or "closed",
        )
    )
    for module in PURGE_HOOK_MODULES:
        importlib.import_module(module)
    for hook in PURGE_HOOKS:
        hook(session, vault, holder_id)
    vault.destroy_keys(session, holder_id)
    # Mail and letters: the rows, the delivered .eml copies, the unprinted letter batches.
    delete_for_holder(session, settings, holder_id, addresses=[holder.email or ""])
    letters.withdraw_for_holder(session, settings, holder_id)
    # What points at the holder without a foreign key: sign-in material. (Throttle rows hold only
    # keyed hashes of clients and usernames, and are forgotten by the daily jobs.)
    forget_credentials(session, holder_id)
    session.execute(
        delete(Representation).where(
            (Representation.minor_id == holder_id) | (Representation.representative_id == holder_id)
        )
    )
    session.delete(holder)
    session.flush()


PurgeHook = Callable[[Session, Vault, uuid.UUID], None]
# Domains holding a holder's data outside foreign-key cascades (blobs, say) register here.
PURGE_HOOKS: list[PurgeHook] = []
# Modules that register purge hooks, imported before each purge so none is forgotten.
PURGE_HOOK_MODULES = (
    "carnet.documents.purge",
    "carnet.messaging.purge",
    "carnet.agenda.service",
    "carnet.audit.purge",
    "carnet.export.service",
)


def register_purge_hook(hook: PurgeHook) -> PurgeHook:
    """Declare what a domain deletes when a space is purged (LC-8)."""
    if hook not in PURGE_HOOKS:
        PURGE_HOOKS.append(hook)
    return hook


def purge_due(
    session: Session, vault: Vault, settings: Settings, day: dt.date, limit: int = 1000
) -> int:
    """LC-5: purge spaces whose archive time is over, or whose holder asked for erasure."""
    holders = session.scalars(
        select(Holder)
        .where(Holder.state.in_((rules.CLOSED, rules.PURGE_PENDING)), Holder.purge_due_on <= day)
        .limit(limit)
    ).all()
    for holder in holders:
        purge(session, vault, settings, holder)
    return len(holders)


def is_tombstoned(session: Session, vault: Vault, nir: str) -> bool:
    return session.get(Tombstone, tombstone_hash(session, vault, nir)) is not None
