"""What purging a space (LC-8) deletes in messaging beyond the row cascade: attachment blobs."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts.purge import register_purge_hook
from carnet.messaging.models import Attachment
from carnet.vault.service import Vault


@register_purge_hook
def delete_attachment_blobs(session: Session, vault: Vault, holder_id: uuid.UUID) -> None:
    """Blobs go once the purge commits; conversations, messages and attachments go with the
    holder (foreign-key cascade), and their sealed fields were unreadable once the key was shredded."""
    for blob_id in session.scalars(
        select(Attachment.blob_id).where(Attachment.holder_id == holder_id)
    ):
        vault.delete_blob_after_commit(session, blob_id)
