"""Depositing, uploading, reading, searching and changing documents (rules DOC-1…DOC-7, ID-3).

Plain functions taking the session; the caller commits. Every read goes through the decision point
(`access.rules` for one document, `access.filters` for searches) and leaves an audit entry in the
same transaction; the content is only decrypted after that.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access import filters, notices
from carnet.access.rules import (
    Actor,
    Decision,
    DocumentFacts,
    Relation,
    clinical_access,
    decide_deposit,
    decide_document_author_change,
    decide_document_read,
    decide_document_write,
    decide_upload,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts import throttle
from carnet.accounts.models import Holder, Representation
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import reference, sniff
from carnet.documents import rules as doc_rules
from carnet.documents.models import Document, DocumentPreference, Folder
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from carnet.notifications.service import enqueue
from carnet.vault.service import Vault

PURPOSE = "document"
MINUTE = dt.timedelta(minutes=1)  # the window of `Settings.upload_rate_per_minute`
NOT_FOUND = "No such document."


@dataclass
class NewDocument:
    """What a deposit or an upload brings; the service checks and completes it."""

    content: bytes
    title: str
    declared_type: str | None
    type_code: str | None = None  # LOINC, required from professionals
    category: str | None = None  # required from holders
    care_date: dt.date | None = None
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None
    created_at: dt.datetime | None = None
    master_identifier: str | None = None
    expected_sha1: str | None = None
    expected_sha256: str | None = None
    expected_size: int | None = None
    masked: bool | None = None  # None: the holder's default (DOC-5)
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False
    format_code: str | None = None
    language: str | None = None
    original_name: str | None = None
    not_deletable: bool = False
    replaces_id: uuid.UUID | None = None
    source: str = "professional"
    author_rpps: str | None = None
    folder_id: uuid.UUID | None = None
    notify: bool = True


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
    folder_id: uuid.UUID | None = None
    pinned: bool | None = None
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


def _require(decision: Decision, *, hide: bool = True) -> None:
    """Refused reads answer 404 (existence is not leaked); refused writes 403."""
    if not decision:
        if hide:
            raise NotFound(NOT_FOUND)
        raise Forbidden("This action is not allowed on this document.", code=decision.reason)


def holder_by_id(session: Session, holder_id: uuid.UUID) -> Holder:
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound("No such patient.")
    return holder


def preferences(session: Session, holder_id: uuid.UUID) -> DocumentPreference:
    pref = session.get(DocumentPreference, holder_id)
    return pref or DocumentPreference(
        holder_id=holder_id, mask_new_documents=False, notify_new_documents=True
    )


# -- writing ---------------------------------------------------------------------------------


def deposit(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    new: NewDocument,
    *,
    request_id: str | None = None,
) -> Document:
    """Store a document for `holder`: checks, encrypted blob (fsynced), metadata, audit, notice.

    Professionals deposit (ACC-2, ID-3, DOC-1: PDF or CDA with a LOINC type); holders and those
    acting for them upload (DOC-1: PDF, images, RTF, text, with a category).
    """
    actor = actor_for(session, settings, principal, holder)
    space = space_facts(session, holder)
    from_professional = actor.relation in (Relation.PROFESSIONAL, Relation.REGULATOR)
    if from_professional or new.source == "dmp-migration":
        if not holder.ins_qualified:
            raise InvalidInput(  # ID-3
                "This patient's identity (INS) is not qualified: documents cannot be deposited.",
                code="ins-not-qualified",
            )
    if new.source != "dmp-migration":
        decision = (
            decide_deposit(actor, space) if from_professional else decide_upload(actor, space)
        )
        if not decision:
            if decision.reason == "space-not-open":
                raise Conflict("This patient's space is not open.", code="space-not-open")
            raise Forbidden("You may not add documents to this space.", code=decision.reason)
    _check_content(settings, new, professional=from_professional or new.source == "dmp-migration")
    type_code, category, sensitivity = _classify(new, professional=from_professional)
    if not from_professional and new.source != "dmp-migration":
        _check_room(session, settings, principal, holder, len(new.content))
    if new.master_identifier:
        taken = session.scalars(
            select(Document.id).where(
                Document.holder_id == holder.id,
                Document.master_identifier == new.master_identifier,
            )
        ).first()
        if taken is not None:
            raise Conflict(
                "A document with this identifier was already deposited.", code="duplicate-document"
            )
    replaced = _replaced(session, settings, actor, holder, new.replaces_id)
    now = clock.now()
    doc_id = uuid.uuid4()
    stored = vault.put_blob(session, holder.id, doc_id, PURPOSE, [new.content])
    if new.expected_sha1 and new.expected_sha1.lower() != stored.sha1:
        raise InvalidInput("The content does not match its declared hash.", code="hash-mismatch")
    if new.expected_sha256 and new.expected_sha256.lower() != stored.sha256:
        raise InvalidInput("The content does not match its declared hash.", code="hash-mismatch")
    if new.expected_size is not None and new.expected_size != stored.size:
        raise InvalidInput("The content does not match its declared size.", code="size-mismatch")
    masked = (
        preferences(session, holder.id).mask_new_documents if new.masked is None else new.masked
    )
    doc = Document(
        id=doc_id,
        holder_id=holder.id,
        master_identifier=new.master_identifier or f"urn:uuid:{doc_id}",
        source=new.source if not from_professional else "professional",
        author_kind="professional" if from_professional else principal.kind.value,
        author_id=principal.id if new.source != "dmp-migration" else None,
        author_rpps=new.author_rpps,
        type_code=type_code,
        category=category,
        sensitivity=sensitivity,
        format_code=new.format_code,
        title_sealed=vault.seal_text(session, holder.id, doc_id, "document-title", new.title),
        original_name_sealed=(
            vault.seal_text(session, holder.id, doc_id, "document-name", new.original_name)
            if new.original_name
            else None
        ),
        care_date=new.care_date,
        period_start=new.period_start,
        period_end=new.period_end,
        created_at=new.created_at,
        deposited_at=now,
        updated_at=now,
        language=new.language,
        mime_type=sniff.sniff(new.content[: sniff.HEAD_BYTES]) or "application/octet-stream",
        size=stored.size,
        sha256=stored.sha256,
        sha1=stored.sha1,
        blob_id=stored.blob_id,
        status="current",
        replaces_id=replaced.id if replaced else None,
        version=(replaced.version + 1) if replaced else 1,
        masked=masked,
        invisible_to_patient=new.invisible_to_patient,
        invisible_to_representatives=new.invisible_to_representatives,
        visible_to_patient_from=(
            doc_rules.one_month_after(now) if new.invisible_to_patient else None  # DOC-4
        ),
        not_deletable=new.not_deletable,
        folder_id=_own_folder(session, holder.id, new.folder_id),
    )
    session.add(doc)
    if replaced is not None:
        replaced.status = "superseded"  # DOC-6: the old version is kept, never lost
        replaced.updated_at = now
    session.flush()
    record(
        session,
        principal,
        "document.replace" if replaced else "document.deposit",
        holder_id=holder.id,
        target_type="DocumentReference",
        target_id=str(doc.id),
        mode=actor_mode(actor),
        reason=new.source,
        request_id=request_id,
    )
    if new.notify and from_professional and not new.invisible_to_patient:
        notify_new_document(session, settings, holder, doc)
    return doc


def actor_mode(actor: Actor) -> str:
    from carnet.access.rules import mode_of

    return mode_of(actor).value


def _check_content(settings: Settings, new: NewDocument, *, professional: bool) -> None:
    limit = settings.max_upload_bytes
    if len(new.content) == 0:
        raise InvalidInput("The file is empty.", field="content")
    if len(new.content) > limit:
        raise InvalidInput(
            f"The file is larger than the {limit // (1024 * 1024)} MB limit.",
            code="too-large",
            field="content",
        )
    sniffed = sniff.sniff(new.content[: sniff.HEAD_BYTES])
    allowed = sniff.PROFESSIONAL_TYPES if professional else sniff.HOLDER_TYPES
    problem = doc_rules.type_problem(sniffed, new.declared_type, allowed)
    if problem:
        raise InvalidInput(f"Refused: {problem}.", code="unsupported-type", field="content")
    unreadable = sniff.content_problem(new.content, sniffed) if sniffed else None
    if unreadable:  # DOC-1: a PDF that parses, an image that decodes (not magic bytes alone)
        code, why = unreadable
        raise InvalidInput(f"Refused: {why}.", code=code, field="content")
    title = new.title.strip()
    if not title or len(title) > 300:
        raise InvalidInput("A title of 1 to 300 characters is required.", field="title")


def refuse_if_too_many_uploads(session: Session, settings: Settings, principal: Principal) -> None:
    """DOC-1: 429 when `principal` may not upload now, without counting an upload; the API asks
    before receiving the body, so a refused upload sends no megabytes (`deposit` counts)."""
    wait = throttle.wait_for(
        session, _upload_key(principal), limit=settings.upload_rate_per_minute, window=MINUTE
    )
    if wait is not None:
        raise _too_many_uploads(settings, wait)


def holder_uploads_size(session: Session, holder_id: uuid.UUID) -> int:
    """DOC-1: bytes of the documents the holder side uploaded into the space (every version
    kept; professionals' deposits and the DMP migration are not counted)."""
    used = session.scalar(
        select(func.coalesce(func.sum(Document.size), 0)).where(
            Document.holder_id == holder_id, Document.source == "holder"
        )
    )
    return int(used or 0)


def _check_room(
    session: Session, settings: Settings, principal: Principal, holder: Holder, size: int
) -> None:
    """DOC-1, before anything is written: at most `upload_rate_per_minute` uploads a minute per
    person or app, counted across app servers (429 with Retry-After), and the space's quota.

    Carnet decision: the quota counts only what the holder side uploads. A national record must
    not lose a hospital report because the patient filled the space with photos: professionals'
    deposits (ACC-2) and the DMP migration are always accepted. The rate is counted first, its
    row locked until the commit, so one person's parallel uploads are checked one after the
    other; several people acting for one space may together pass the quota by at most one
    upload each."""
    wait = throttle.use(
        session, _upload_key(principal), limit=settings.upload_rate_per_minute, window=MINUTE
    )
    if wait is not None:
        raise _too_many_uploads(settings, wait)
    quota = settings.space_quota_bytes
    if holder_uploads_size(session, holder.id) + size > quota:
        raise Conflict(
            f"This space's storage is full (quota {_size_text(quota)} for the documents you add). "
            "Delete documents to make room, then try again.",
            code="space-full",
            field="content",
        )


def _too_many_uploads(settings: Settings, wait: int) -> TooManyRequests:
    return TooManyRequests(
        f"Too many uploads: at most {settings.upload_rate_per_minute} documents a minute. "
        f"Try again in {wait} seconds.",
        code="too-many-uploads",
        retry_after=wait,
    )


def _upload_key(principal: Principal) -> str:
    return f"upload:{principal.kind.value}:{principal.id}"


def _size_text(size: int) -> str:
    gigabytes = size / (1024 * 1024 * 1024)
    return f"{gigabytes:g} GB" if gigabytes >= 1 else f"{size // (1024 * 1024)} MB"


def _classify(new: NewDocument, *, professional: bool) -> tuple[str | None, str, str]:
    """DOC-1: the LOINC type gives category and sensitivity; uploads carry a category only."""
    if new.type_code:
        known = reference.document_types().get(new.type_code)
        if known is None:
            raise InvalidInput(
                f"Unknown document type {new.type_code!r} (LOINC, TRE_A04).",
                code="unknown-type",
                field="type",
            )
        if new.category and new.category != known.category:
            raise InvalidInput(
                f"Category {new.category} does not match type {new.type_code} ({known.category}).",
                code="category-mismatch",
                field="category",
            )
        return known.loinc, known.category, known.sensitivity
    if professional:
        raise InvalidInput("Professionals' documents need a LOINC type.", field="type")
    category = new.category or "AUTR_DOC"
    if category not in reference.categories():
        raise InvalidInput(
            f"Unknown category {category!r}.", code="unknown-category", field="category"
        )
    return None, category, doc_rules.upload_category_sensitivity(category)


def _replaced(
    session: Session,
    settings: Settings,
    actor: Actor,
    holder: Holder,
    replaces_id: uuid.UUID | None,
) -> Document | None:
    if replaces_id is None:
        return None
    old = session.get(Document, replaces_id)
    if old is None or old.holder_id != holder.id:
        raise NotFound("The document to replace does not exist.")
    _require(
        decide_document_author_change(actor, space_facts(session, holder), facts(old)), hide=False
    )
    if old.status != "current":
        raise Conflict(
            "Only the current version of a document can be replaced.", code="not-current"
        )
    return old


def _own_folder(
    session: Session, holder_id: uuid.UUID, folder_id: uuid.UUID | None
) -> uuid.UUID | None:
    if folder_id is None:
        return None
    folder = session.get(Folder, folder_id)
    if folder is None or folder.holder_id != holder_id:
        raise NotFound("No such folder.")
    return folder.id


def notice_recipients(
    session: Session, settings: Settings, holder: Holder, doc: Document
) -> list[str]:
    """Who is told about `doc` (DOC-4, DOC-7): the holder, or a minor's accepted representatives
    unless the document is invisible to them (REP-2)."""
    recipients: list[str] = []
    if account_rules.is_minor(
        holder.birth_date, clock.today(settings.timezone), settings.majority_age
    ):
        if not doc.invisible_to_representatives:
            reps = session.scalars(
                select(Holder.email)
                .join(Representation, Representation.representative_id == Holder.id)
                .where(Representation.minor_id == holder.id, Representation.status == "accepted")
            ).all()
            recipients += [email for email in reps if email]
    elif holder.email:
        recipients.append(holder.email)
    return recipients


def notify_new_document(session: Session, settings: Settings, holder: Holder, doc: Document) -> int:
    """DOC-7: tell the holder (or a minor's representatives) that a document is there — never
    what it is. Representatives are not told of documents invisible to them (REP-2)."""
    if not preferences(session, holder.id).notify_new_documents:
        return 0
    recipients = notice_recipients(session, settings, holder, doc)
    for email in recipients:
        enqueue(
            session,
            kind="document.new",
            recipient=email,
            subject="Un nouveau document dans votre espace Carnet",
            body_text=(
                "Un nouveau document a été ajouté à un espace santé Carnet que vous suivez.\n"
                f"Consultez-le sur {settings.base_url}."
            ),
            holder_id=holder.id,
        )
    return len(recipients)


# -- reading ---------------------------------------------------------------------------------


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
    doc = session.get(Document, doc_id)
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
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        _sorted(statement, query.sort)
        .offset(max(query.offset, 0))
        .limit(max(min(query.count, 500), 0))
    ).all()
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
    if query.author_rpps:
        where.append(Document.author_rpps.in_(query.author_rpps))
    if query.folder_id:
        where.append(Document.folder_id == query.folder_id)
    if query.pinned is not None:
        where.append(Document.pinned.is_(query.pinned))
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


# -- changing --------------------------------------------------------------------------------


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
    doc = get(session, settings, principal, doc_id, request_id=request_id)
    holder = holder_by_id(session, doc.holder_id)
    actor = actor_for(session, settings, principal, holder)
    _require(decide_document_write(actor, space_facts(session, holder), facts(doc)), hide=False)
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
        doc.folder_id = _own_folder(session, holder.id, change.folder_id)
        changed.append("folder")
    if change.pinned is not None:
        doc.pinned = change.pinned
        changed.append("pinned")
    if change.masked is not None and change.masked != doc.masked:
        doc.masked = change.masked  # DOC-3: the holder masks and unmasks at any time
        changed.append("masked" if change.masked else "unmasked")
    doc.updated_at = clock.now()
    record(
        session,
        principal,
        "document.change",
        holder_id=holder.id,
        target_type="DocumentReference",
        target_id=str(doc.id),
        mode=actor_mode(actor),
        reason=",".join(changed) or "none",
        request_id=request_id,
    )
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
    doc = get(session, settings, principal, doc_id, request_id=request_id)
    holder = holder_by_id(session, doc.holder_id)
    actor = actor_for(session, settings, principal, holder)
    _require(decide_document_write(actor, space_facts(session, holder), facts(doc)), hide=False)
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
    doc = get(session, settings, principal, doc_id, request_id=request_id)
    holder = holder_by_id(session, doc.holder_id)
    actor = actor_for(session, settings, principal, holder)
    _require(
        decide_document_author_change(actor, space_facts(session, holder), facts(doc)), hide=False
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
    doc.updated_at = clock.now()
    record(
        session,
        principal,
        "document.change",
        holder_id=holder.id,
        target_type="DocumentReference",
        target_id=str(doc.id),
        mode=actor_mode(actor),
        reason=",".join(changed) or "none",
        request_id=request_id,
    )
    return doc


# -- folders and preferences (DOC-5, DOC-6) ----------------------------------------------------


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


def folder_name(session: Session, vault: Vault, folder: Folder) -> str:
    return vault.unseal_text(
        session, folder.holder_id, folder.id, "folder-name", folder.name_sealed
    )


def own_folder(session: Session, holder_id: uuid.UUID, folder_id: uuid.UUID) -> Folder:
    folder = session.get(Folder, folder_id)
    if folder is None or folder.holder_id != holder_id:
        raise NotFound("No such folder.")
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


def holder_principal(holder: Holder) -> Principal:
    return Principal(PrincipalKind.HOLDER, holder.id)
