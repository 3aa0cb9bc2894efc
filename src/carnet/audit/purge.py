"""What purging a space (LC-8) leaves of its audit chain: hashes, places and times only."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from carnet.accounts.purge import register_purge_hook
from carnet.audit.service import redact_chain
from carnet.vault.service import Vault


@register_purge_hook
def redact_audit_chain(session: Session, vault: Vault, holder_id: uuid.UUID) -> None:
    """The chain still verifies (ACC-8); who read or did what in this space is gone (LC-8)."""
    redact_chain(session, holder_id)
