"""Reading and searching documents (rules DOC-2…DOC-4, ACC-8), and what deposits and changes share.

Depositing and uploading are `documents.deposits`; changing documents, folders and preferences is
`documents.changes`. Plain functions taking the session; the caller commits. Every read goes through the decision point
(`access.rules` for one document, `access.filters` for searches) and leaves an audit entry in the
same transaction; the content is only decrypted after that.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from carnet import clock
from carnet.access import filters, notices
from carnet.access.rules import (
    Actor,
    Decision,
    DocumentFacts,
    clinical_access,
    decide_document_read,
    mode_of,
)
from carnet.access.service import SWITCHES, actor_for, actor_part, space_facts
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Preload, keep_preloaded, preload, unit_cached
from carnet.documents.models import Document, DocumentPreference, Folder
from carnet.errors import Forbidden, InvalidInput, NotFound
from carnet.vault.service import DATA_KEY, Vault

PURPOSE = "document"
NOT_FOUND = "No such document."


@dataclass
class SearchQuery:
    """ITI-67-style criteria; every field optional."""

    type_codes: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=lambda: ["current"])
    date_from: dt.datetime | None = None  # deposit date (DocumentReference.date)
    date_to: dt.datetime | None = None
    period_from: dt.datetime | None = None  # care period (context.period)
    period_to: dt.datetime | None = None
    author_rpps: list[str] = field(default_factory=list)
    deposited_by: uuid.UUID | None = None  # a professional's own deposits (their page's filter)
    ids: list[uuid.UUID] | None = None  # FHIR `_id`; None: any, []: none
    updated_from: dt.datetime | None = None  # FHIR `_lastUpdated` (meta.lastUpdated)
    updated_to: dt.datetime | None = None
    folder_id: uuid.UUID | None = None
    pinned: bool | None = None
    mime_types: list[str] = field(default_factory=list)  # sniffed types (`sniff`), e.g. CDA's XML
    sort: str = "-date"
    offset: int = 0
    count: int = 20


def facts(doc: Document) -> DocumentFacts:
    return DocumentFacts(
        author_kind=doc.author_kind,
        author_id=doc.author_id,
        sensitivity=doc.sensitivity,
        status=doc.status,
        masked=doc.masked,
        invisible_to_patient=doc.invisible_to_patient,
        visible_to_patient_from=doc.visible_to_patient_from,
        invisible_to_representatives=doc.invisible_to_representatives,
    )


def facts_by_id(
    session: Session, holder_id: uuid.UUID, doc_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, DocumentFacts]:
    """The decision facts of these documents of one space, as they are now (for the copies of
    documents attached to messages, SRV-1); a document that is gone is simply absent."""
    wanted = set(doc_ids)
    if not wanted:
        return {}
    rows = session.scalars(
        select(Document).where(Document.holder_id == holder_id, Document.id.in_(wanted))
    )
    return {doc.id: facts(doc) for doc in rows}


def require(decision: Decision, *, hide: bool = True) -> None:
    """Refused reads answer 404 (existence is not leaked); refused writes 403."""
    if not decision:
        if hide:
            raise NotFound(NOT_FOUND)
        raise Forbidden("This action is not allowed on this document.", code=decision.reason)


def holder_by_id(session: Session, holder_id: uuid.UUID) -> Holder:
    """The document's holder, kept for the unit of work: the identity map only holds what is
    referenced, and a read followed by its rendering would otherwise load the holder twice."""
    holder = unit_cached(
        session,
        ("documents.holder", holder_id),
        frozenset({"holders"}),
        lambda: account_service.holder(session, holder_id),
    )
    if holder is None:
        raise NotFound("No such patient.")
    return holder


def preferences(session: Session, holder_id: uuid.UUID) -> DocumentPreference:
    # Read once per unit of work (a Bundle deposits many documents), even when there is no row.
    pref = unit_cached(
        session,
        ("documents.preferences", holder_id),
        frozenset({"document_preferences"}),
        lambda: session.get(DocumentPreference, holder_id),
    )
    return pref or DocumentPreference(
        holder_id=holder_id, mask_new_documents=False, notify_new_documents=True
    )


def load(session: Session, doc_id: uuid.UUID, *, actor: Sequence[Preload] = ()) -> Document | None:
    """The document with this id, or None, read in one statement with what a decision on it
    needs (issue 13): its space's holder, switches and data key, its author (ID-2), and the
    caller's standing on that space (`actor`: `access.service.actor_part`), each domain joining
    its own tables (`db.Preload`). Nothing is read when the unit of work holds it already."""
    held = session.identity_map.get(identity_key(Document, doc_id))
    if isinstance(held, Document):
        return held
    space = (account_service.HOLDER, SWITCHES, DATA_KEY, *actor)
    by_author = preload(
        select(Document).where(Document.id == doc_id), Document.author_id, (account_service.AUTHOR,)
    )
    row = session.execute(preload(by_author, Document.holder_id, space)).first()
    if row is None:
        return None
    doc: Document = row[0]
    keep_preloaded(session, row, doc.holder_id, space)
    return doc


def authored_with_master_identifier(
    session: Session, principal: Principal, value: str, system: str | None, *, limit: int
) -> list[uuid.UUID]:
    """The ids of documents `principal` authored whose masterIdentifier is `value` (and `system`,
    when given and not the URI system), at most `limit`: a producer finds its own documents by its
    business identifier (PDSm flux 03)."""
    query = select(Document.id).where(
        Document.master_identifier == value,
        Document.author_kind == "professional",
        Document.author_id == principal.id,
    )
    if system:
        query = query.where(Document.master_identifier_system == system)
    return list(session.scalars(query.limit(limit)))


def get(
    session: Session,
    settings: Settings,
    principal: Principal,
    doc_id: uuid.UUID,
    *,
    action: str = "document.read-metadata",
    request_id: str | None = None,
) -> Document:
    """One document's metadata, if the decision point allows it; audited (ACC-8)."""
    doc = load(session, doc_id, actor=actor_part(settings, principal))
    if doc is None:
        raise NotFound(NOT_FOUND)
    holder = holder_by_id(session, doc.holder_id)
    actor = actor_for(session, settings, principal, holder)
    decision = decide_document_read(actor, space_facts(session, holder), facts(doc), clock.now())
    if not decision:
        record(
            session,
            principal,
            f"{action}-denied",
            holder_id=holder.id,
            target_type="DocumentReference",
            target_id=str(doc.id),
            mode=decision.mode,
            reason=decision.reason,
            request_id=request_id,
        )
        raise NotFound(NOT_FOUND)
    record(
        session,
        principal,
        action,
        holder_id=holder.id,
        target_type="DocumentReference",
        target_id=str(doc.id),
        mode=decision.mode,
        reason=decision.reason,
        request_id=request_id,
    )
    notices.after_read(session, settings, actor, holder, decision)  # ACC-8: first-access e-mail
    return doc


def read_content(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    doc_id: uuid.UUID,
    *,
    request_id: str | None = None,
) -> tuple[Document, Iterator[bytes]]:
    """The decrypted content as a stream, after the decision and the audit entry (ACC-8)."""
    doc = get(
        session, settings, principal, doc_id, action="document.download", request_id=request_id
    )
    return doc, vault.read_blob(
        session, doc.holder_id, doc.id, PURPOSE, doc.blob_id, expected_sha256=doc.sha256
    )


def title_of(session: Session, vault: Vault, doc: Document) -> str:
    return vault.unseal_text(session, doc.holder_id, doc.id, "document-title", doc.title_sealed)


def original_name_of(session: Session, vault: Vault, doc: Document) -> str | None:
    if doc.original_name_sealed is None:
        return None
    return vault.unseal_text(
        session, doc.holder_id, doc.id, "document-name", doc.original_name_sealed
    )


def search(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    query: SearchQuery,
    *,
    request_id: str | None = None,
) -> tuple[int, Sequence[Document]]:
    """The documents of `holder` that `principal` may read and that match; narrowed in SQL, so
    totals and pages only ever count readable documents. One audit entry per search."""
    actor = actor_for(session, settings, principal, holder)
    space = space_facts(session, holder)
    where = filters.readable_documents(actor, space, clock.now())
    statement = select(Document).where(where, *_criteria(query))
    total, rows = _page(session, statement, query)
    access = clinical_access(actor, space)  # ACC-8: a search under a grant is in its mode
    record(
        session,
        principal,
        "document.search",
        holder_id=holder.id,
        target_type="DocumentReference",
        target_id=f"{len(rows)}/{total}",
        mode=access.mode if access else actor_mode(actor),
        request_id=request_id,
    )
    notices.after_read(session, settings, actor, holder, access)  # ACC-8: first-access e-mail
    return total, rows


def _page(
    session: Session, statement: Select[Document], query: SearchQuery
) -> tuple[int, Sequence[Document]]:
    """The page, its authors and the real total in one statement. The total is an uncorrelated
    scalar subquery over the document ids alone, computed once by both engines; a window
    (`count(*) over ()`) made them materialise and sort every matching row in full before the
    limit (issue 14: 68 ms of CPU for a space of 10,000 documents). A page past the end says
    nothing of the total, which is then counted apart."""
    offset, limit = max(query.offset, 0), max(min(query.count, 500), 0)
    counted = select(func.count()).select_from(
        statement.with_only_columns(Document.id).order_by(None).subquery()
    )
    paged: Select[Any] = (
        _sorted(statement, query.sort)
        .add_columns(counted.scalar_subquery())
        .offset(offset)
        .limit(limit)
    )
    # Each document's author comes with it (ID-2: the page shows them), `present` finds them.
    found: Sequence[Any] = session.execute(
        preload(paged, Document.author_id, (account_service.AUTHOR,))
    ).all()
    for row in found:
        keep_preloaded(session, row, row[0].holder_id, (account_service.AUTHOR,))
    rows: list[Document] = [row[0] for row in found]
    if found:
        return int(found[0][1]), rows
    if offset == 0 and limit > 0:
        return 0, rows
    return session.scalar(counted) or 0, rows


def _author_criteria(query: SearchQuery) -> list[ColumnElement[bool]]:
    """Who wrote it (`author_rpps`, as declared) or who deposited it (`deposited_by`)."""
    where: list[ColumnElement[bool]] = []
    if query.author_rpps:
        where.append(Document.author_rpps.in_(query.author_rpps))
    if query.deposited_by is not None:
        where.append(Document.author_kind == "professional")
        where.append(Document.author_id == query.deposited_by)
    return where


def _criteria(query: SearchQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.type_codes:
        where.append(Document.type_code.in_(query.type_codes))
    if query.categories:
        where.append(Document.category.in_(query.categories))
    if query.statuses:
        where.append(Document.status.in_(query.statuses))
    if query.date_from:
        where.append(Document.deposited_at >= query.date_from)
    if query.date_to:
        where.append(Document.deposited_at < query.date_to)
    if query.period_from:
        where.append(func.coalesce(Document.period_end, Document.period_start) >= query.period_from)
    if query.period_to:
        where.append(Document.period_start < query.period_to)
    where.extend(_author_criteria(query))
    if query.ids is not None:
        where.append(Document.id.in_(query.ids))
    if query.updated_from:
        where.append(Document.updated_at >= query.updated_from)
    if query.updated_to:
        where.append(Document.updated_at < query.updated_to)
    if query.folder_id:
        where.append(Document.folder_id == query.folder_id)
    if query.pinned is not None:
        where.append(Document.pinned.is_(query.pinned))
    if query.mime_types:
        where.append(Document.mime_type.in_(query.mime_types))
    return where


def _sorted(statement: Select[Document], sort: str) -> Select[Document]:
    keys = {
        "date": Document.deposited_at,
        "-date": Document.deposited_at.desc(),
        "period": Document.period_start,
        "-period": Document.period_start.desc(),
    }
    if sort not in keys:
        raise InvalidInput(
            f"Unsupported sort {sort!r}: use date, -date, period or -period.", field="_sort"
        )
    return statement.order_by(Document.pinned.desc(), keys[sort], Document.id)


def awaiting_announcement(
    session: Session, settings: Settings, principal: Principal, holder: Holder
) -> int:
    """DOC-4: how many documents wait for their announcement consultation, for the holder side.
    A count only, never narrowed by a list's criteria (a category would tell what it is about)."""
    actor = actor_for(session, settings, principal, holder)
    where = filters.awaiting_announcement(actor, space_facts(session, holder), clock.now())
    return session.scalar(select(func.count()).select_from(Document).where(where)) or 0


def kept_from_holder_side(session: Session, holder_id: uuid.UUID) -> Sequence[Document]:
    """The space's documents flagged invisible to the patient (DOC-4) or to representatives
    (REP-2): the only ones the decision point may hide from a holder-side reader."""
    return session.scalars(
        select(Document).where(
            Document.holder_id == holder_id,
            or_(
                Document.invisible_to_patient.is_(True),
                Document.invisible_to_representatives.is_(True),
            ),
        )
    ).all()


def deposited_by(session: Session, holder_id: uuid.UUID, pro_id: uuid.UUID, rpps: str) -> bool:
    """Whether this professional (by id or RPPS) deposited a document in the space (SRV-1)."""
    found = session.scalar(
        select(Document.id).where(
            Document.holder_id == holder_id,
            Document.author_kind == "professional",
            or_(Document.author_id == pro_id, Document.author_rpps == rpps),
        )
    )
    return found is not None


def professional_authors(holder_id: uuid.UUID) -> Select[uuid.UUID | None]:
    """The ids of the professionals who deposited in the space, as a subquery for the caller's
    own statement (SRV-1: pharmacies), never run on its own."""
    return select(Document.author_id).where(
        Document.holder_id == holder_id, Document.author_kind == "professional"
    )


def document(session: Session, document_id: uuid.UUID) -> Document | None:
    """The document row, undecided: for a caller that first checks it is the space it shows
    (the decision and the audit stay with `get` and `read_content`, which find it held)."""
    return session.get(Document, document_id)


def space_of(session: Session, document_id: uuid.UUID) -> uuid.UUID | None:
    """The space a document belongs to, or None: only the id, no decision taken."""
    return session.scalar(select(Document.holder_id).where(Document.id == document_id))


def folders_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Folder]:
    """The folders with these ids, by id, in one query (none when no id is asked)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {f.id: f for f in session.scalars(select(Folder).where(Folder.id.in_(wanted)))}


def folders_of(session: Session, holder_id: uuid.UUID) -> Sequence[Folder]:
    """Every folder of the space, in no particular order."""
    return session.scalars(select(Folder).where(Folder.holder_id == holder_id)).all()


def folder_name(session: Session, vault: Vault, folder: Folder) -> str:
    return vault.unseal_text(
        session, folder.holder_id, folder.id, "folder-name", folder.name_sealed
    )


def own_folder(session: Session, holder_id: uuid.UUID, folder_id: uuid.UUID) -> Folder:
    folder = session.get(Folder, folder_id)
    if folder is None or folder.holder_id != holder_id:
        raise NotFound("No such folder.")
    return folder


def actor_mode(actor: Actor) -> str:
    return mode_of(actor).value


def holder_principal(holder: Holder) -> Principal:
    return Principal(PrincipalKind.HOLDER, holder.id)
