"""What purging a space (LC-8) deletes in the documents domain beyond the row cascade: blobs."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts.purge import register_purge_hook
from carnet.documents.models import Document
from carnet.vault.service import Vault


@register_purge_hook
def delete_document_blobs(session: Session, vault: Vault, holder_id: uuid.UUID) -> None:
    """Blobs go once the purge commits; the rows go with the holder (foreign-key cascade)."""
    for blob_id in session.scalars(select(Document.blob_id).where(Document.holder_id == holder_id)):
        vault.delete_blob_after_commit(session, blob_id)
