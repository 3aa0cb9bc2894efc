"""Changing documents, folders and document preferences (rules DOC-3…DOC-6).

The holder side renames, moves, pins, masks and deletes its documents (`change_by_holder`,
`delete_by_holder`); the author's software withdraws or releases its own (`change_by_author`,
DOC-4); folders and the defaults for new documents (DOC-5, DOC-7) belong to the space. Every change
is first a read the decision point allows (`service.get`), then a write it allows; each is audited.
Plain functions taking the session; the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import (
    Actor,
    Decision,
    DocumentFacts,
    SpaceFacts,
    decide_document_author_change,
    decide_document_write,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts.models import Holder
from carnet.audit.service import record
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.documents.deposits import notify_new_document
from carnet.documents.models import Document, DocumentPreference, Folder
from carnet.documents.service import (
    actor_mode,
    facts,
    get,
    holder_by_id,
    own_folder,
    require,
)
from carnet.errors import Conflict, Forbidden, InvalidInput
from carnet.vault.service import Vault


@dataclass
class HolderChange:
    title: str | None = None
    folder_id: uuid.UUID | None = None
    clear_folder: bool = False
    pinned: bool | None = None
    masked: bool | None = None


def change_by_holder(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    doc_id: uuid.UUID,
    change: HolderChange,
    *,
    request_id: str | None = None,
) -> Document:
    """Rename, move, pin, mask/unmask (DOC-3, DOC-6), each change audited."""
    doc, holder, actor = _writable(
        session, settings, principal, doc_id, decide_document_write, request_id=request_id
    )
    changed: list[str] = []
    if change.title is not None:
        title = change.title.strip()
        if not title or len(title) > 300:
            raise InvalidInput("A title of 1 to 300 characters is required.", field="title")
        doc.title_sealed = vault.seal_text(session, holder.id, doc.id, "document-title", title)
        changed.append("title")
    if change.clear_folder:
        doc.folder_id = None
        changed.append("folder")
    elif change.folder_id is not None:
        doc.folder_id = own_folder(session, holder.id, change.folder_id).id
        changed.append("folder")
    if change.pinned is not None:
        doc.pinned = change.pinned
        changed.append("pinned")
    if change.masked is not None and change.masked != doc.masked:
        doc.masked = change.masked  # DOC-3: the holder masks and unmasks at any time
        changed.append("masked" if change.masked else "unmasked")
    _record_change(session, principal, actor, doc, changed, request_id=request_id)
    return doc


def delete_by_holder(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    doc_id: uuid.UUID,
    *,
    request_id: str | None = None,
) -> None:
    """DOC-6: the holder deletes a document unless it is flagged not deletable."""
    doc, holder, actor = _writable(
        session, settings, principal, doc_id, decide_document_write, request_id=request_id
    )
    if doc.not_deletable:
        raise Conflict("This document cannot be deleted.", code="not-deletable")
    session.execute(update(Document).where(Document.replaces_id == doc.id).values(replaces_id=None))
    vault.delete_blob_after_commit(session, doc.blob_id)
    record(
        session,
        principal,
        "document.delete",
        holder_id=holder.id,
        target_type="DocumentReference",
        target_id=str(doc.id),
        mode=actor_mode(actor),
        request_id=request_id,
    )
    session.delete(doc)
    session.flush()


@dataclass
class SecurityChange:
    """Metadata updates from professionals' software (MHD): status and confidentiality labels."""

    status: str | None = None  # "entered-in-error"
    masked: bool | None = None
    invisible_to_patient: bool | None = None  # False releases the document (DOC-4)
    invisible_to_representatives: bool | None = None


def change_by_author(
    session: Session,
    settings: Settings,
    principal: Principal,
    doc_id: uuid.UUID,
    change: SecurityChange,
    *,
    request_id: str | None = None,
) -> Document:
    """DOC-4, DOC-6: the author withdraws (entered-in-error) or releases its document; the holder
    side changes masking through `change_by_holder`."""
    doc, holder, actor = _writable(
        session, settings, principal, doc_id, decide_document_author_change, request_id=request_id
    )
    changed: list[str] = []
    if change.status is not None:
        if change.status != "entered-in-error":
            raise InvalidInput("Only status entered-in-error can be set.", field="status")
        doc.status = "entered-in-error"
        changed.append("entered-in-error")
    if change.invisible_to_patient is False and doc.invisible_to_patient:
        doc.invisible_to_patient = False  # released after the announcement consultation
        doc.visible_to_patient_from = clock.now()
        changed.append("released")
        notify_new_document(session, settings, holder, doc)
    elif change.invisible_to_patient is True and not doc.invisible_to_patient:
        raise Conflict(
            "A document already visible to the patient cannot be hidden again.",
            code="already-visible",
        )
    if change.invisible_to_representatives is not None:
        doc.invisible_to_representatives = change.invisible_to_representatives
        changed.append("representatives")
    if change.masked is not None and change.masked != doc.masked:
        raise Forbidden(
            "Only the holder masks or unmasks documents (DOC-3).", code="holder-decides-masking"
        )
    _record_change(session, principal, actor, doc, changed, request_id=request_id)
    return doc


def create_folder(
    session: Session, vault: Vault, holder: Holder, principal: Principal, name: str
) -> Folder:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("A folder name has 1 to 100 characters.", field="name")
    folder = Folder(id=uuid.uuid4(), holder_id=holder.id)
    folder.name_sealed = vault.seal_text(session, holder.id, folder.id, "folder-name", name)
    session.add(folder)
    session.flush()
    record(
        session,
        principal,
        "folder.create",
        holder_id=holder.id,
        target_type="Folder",
        target_id=str(folder.id),
    )
    return folder


def rename_folder(
    session: Session,
    vault: Vault,
    holder: Holder,
    principal: Principal,
    folder_id: uuid.UUID,
    name: str,
) -> Folder:
    """DOC-6: the holder renames one of their folders."""
    folder = own_folder(session, holder.id, folder_id)
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("A folder name has 1 to 100 characters.", field="name")
    folder.name_sealed = vault.seal_text(session, holder.id, folder.id, "folder-name", name)
    session.flush()
    record(
        session,
        principal,
        "folder.rename",
        holder_id=holder.id,
        target_type="Folder",
        target_id=str(folder.id),
    )
    return folder


def delete_folder(
    session: Session, holder: Holder, principal: Principal, folder_id: uuid.UUID
) -> int:
    """DOC-6: deleting a folder keeps its documents, which move to no folder; returns how many."""
    folder = own_folder(session, holder.id, folder_id)
    moved = session.execute(
        update(Document).where(Document.folder_id == folder.id).values(folder_id=None)
    )
    session.delete(folder)
    session.flush()
    record(
        session,
        principal,
        "folder.delete",
        holder_id=holder.id,
        target_type="Folder",
        target_id=str(folder.id),
    )
    return int(getattr(moved, "rowcount", 0) or 0)


def set_preferences(
    session: Session,
    holder: Holder,
    principal: Principal,
    *,
    mask_new_documents: bool | None = None,
    notify_new_documents: bool | None = None,
) -> DocumentPreference:
    pref = session.get(DocumentPreference, holder.id)
    if pref is None:
        pref = DocumentPreference(
            holder_id=holder.id, mask_new_documents=False, notify_new_documents=True
        )
        session.add(pref)
    if mask_new_documents is not None:
        pref.mask_new_documents = mask_new_documents
    if notify_new_documents is not None:
        pref.notify_new_documents = notify_new_documents
    session.flush()
    record(
        session,
        principal,
        "document.preferences",
        holder_id=holder.id,
        target_type="Space",
        target_id=str(holder.id),
        reason=f"mask={pref.mask_new_documents},notify={pref.notify_new_documents}",
    )
    return pref


def _writable(
    session: Session,
    settings: Settings,
    principal: Principal,
    doc_id: uuid.UUID,
    decide: Callable[[Actor, SpaceFacts, DocumentFacts], Decision],
    *,
    request_id: str | None,
) -> tuple[Document, Holder, Actor]:
    """The document, read as the decision point allows (404 otherwise, audited), then changed
    only if `decide` allows it (403)."""
    doc = get(session, settings, principal, doc_id, request_id=request_id)
    holder = holder_by_id(session, doc.holder_id)
    actor = actor_for(session, settings, principal, holder)
    require(decide(actor, space_facts(session, holder), facts(doc)), hide=False)
    return doc, holder, actor


def _record_change(
    session: Session,
    principal: Principal,
    actor: Actor,
    doc: Document,
    changed: list[str],
    *,
    request_id: str | None,
) -> None:
    doc.updated_at = clock.now()
    record(
        session,
        principal,
        "document.change",
        holder_id=doc.holder_id,
        target_type="DocumentReference",
        target_id=str(doc.id),
        mode=actor_mode(actor),
        reason=",".join(changed) or "none",
        request_id=request_id,
    )
