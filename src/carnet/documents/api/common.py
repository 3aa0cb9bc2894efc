"""What the holder API's document routes share: the space actions they ask for, the space checks
and the JSON shape of a document (the facts from `documents.present`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from carnet.access.rules import decide_upload
from carnet.access.service import actor_for, space_facts
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.documents import present, service
from carnet.documents.models import Document
from carnet.documents.schemas import DocumentOut
from carnet.errors import Conflict, Forbidden, NotFound
from carnet.vault.service import Vault

# resolve_space actions. Caregivers may read, add and change documents (REP-4); masking a document
# or changing the default masking decides what professionals may read, an access setting that REP-4
# keeps from caregivers.
READ, UPLOAD, CHANGE, DELETE = (
    "documents.read",
    "documents.upload",
    "documents.change",
    "documents.delete",
)
ACCESS_SETTINGS = "change-access-settings"


def in_space(session: Session, holder: Holder, document_id: uuid.UUID) -> Document:
    """404 unless the document belongs to the space acted on (`X-Carnet-Space` names one space;
    a document of another space the caller manages is not reached through it). Whether the caller
    may read or change it is then decided, and audited, by the service.

    Returns the document: a caller that keeps it lets the service find it in the session's
    identity map instead of reading it again (issue 13's statement budgets)."""
    doc = service.load(session, document_id)
    if doc is None or doc.holder_id != holder.id:
        raise NotFound(service.NOT_FOUND)
    return doc


def require_open(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> None:
    """The decision point's holder-side rule for adding to a space (live space, holder side)."""
    decision = decide_upload(
        actor_for(session, settings, principal, holder), space_facts(session, holder)
    )
    if not decision:
        if decision.reason == "space-not-open":
            raise Conflict("This space is not open.", code="space-not-open")
        raise Forbidden("You may not change this space.", code=decision.reason)


def describe(
    session: Session, vault: Vault, principal: Principal, docs: Sequence[Document]
) -> list[DocumentOut]:
    """`docs` as the API shows them: "me" for what the caller added, a professional unknown to
    Carnet by their RPPS, the former shared record as "DMP"."""
    return [
        DocumentOut(
            id=shown.doc.id,
            title=shown.title,
            category=shown.doc.category,
            category_label=shown.category_label("fr"),
            type_code=shown.doc.type_code,
            type_label=shown.doc_type.label_fr if shown.doc_type else None,
            author=_author_text(shown.author),
            author_kind=shown.author.kind,
            author_profession=shown.author.profession,
            source=shown.doc.source,
            care_date=shown.doc.care_date,
            deposited_at=shown.doc.deposited_at,
            mime_type=shown.doc.mime_type,
            size=shown.doc.size,
            file_name=present.file_name(session, vault, shown.doc),
            masked=shown.doc.masked,
            pinned=shown.doc.pinned,
            folder_id=shown.doc.folder_id,
            status=shown.doc.status,
            version=shown.doc.version,
            deletable=shown.deletable,
        )
        for shown in present.present(session, vault, principal, docs)
    ]


def _author_text(author: present.Author) -> str:
    if author.name is not None:
        return author.name
    if author.kind == "professional":
        return f"RPPS {author.rpps}" if author.rpps else "—"
    return {"me": "me", "migration": "DMP"}.get(author.kind, "—")
