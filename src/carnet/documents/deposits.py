"""Depositing and uploading documents (rules DOC-1, DOC-4, DOC-5, DOC-7, ID-3, ACC-2).

Plain functions taking the session; the caller commits. `deposit` runs its steps in a fixed order:
who may add here (the decision point), what the content is (DOC-1: type sniffed, readable, a
title), the space's room and upload rate (holder side only), the identifier not taken, the version
it replaces (DOC-6); then the encrypted blob, the row, the audit entry and the notice (DOC-7).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import (
    Actor,
    Relation,
    SpaceFacts,
    decide_deposit,
    decide_deposit_subject,
    decide_document_author_change,
    decide_upload,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts.family.relations import representative_emails
from carnet.accounts.models import Holder
from carnet.audit.service import record
from carnet.auth import rates
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.documents import reference, sniff
from carnet.documents import rules as doc_rules
from carnet.documents.models import Document
from carnet.documents.service import (
    PURPOSE,
    actor_mode,
    facts,
    own_folder,
    preferences,
    require,
)
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from carnet.notifications.service import enqueue
from carnet.vault.service import StoredBlob, Vault

MINUTE = dt.timedelta(minutes=1)  # the window of `Settings.upload_rate_per_minute`


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
    master_identifier_system: str | None = None
    expected_sha1: str | None = None
    expected_sha256: str | None = None
    expected_size: int | None = None
    masked: bool | None = None  # None: the holder's default (DOC-5)
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False
    format_code: str | None = None
    language: str | None = None
    context_codes: str | None = None  # JSON: context facilityType, practiceSetting, event, related
    original_name: str | None = None
    not_deletable: bool = False
    replaces_id: uuid.UUID | None = None
    source: str = "professional"
    author_rpps: str | None = None
    folder_id: uuid.UUID | None = None
    notify: bool = True
    prepared: Prepared | None = None  # content work already done (`prepare_content`)


@dataclass(frozen=True)
class Prepared:
    """A document's content checked, hashed, encrypted with its holder's key and stored durably
    under `doc_id` before the write transaction (issue 14): the database's write lock is then
    held for the metadata rows only, not for PDF parsing, AES-GCM and the blob's fsync."""

    doc_id: uuid.UUID
    holder_id: uuid.UUID
    stored: StoredBlob
    professional: bool


def prepare_content(
    session: Session, vault: Vault, settings: Settings, holder_id: uuid.UUID, new: NewDocument,
    *, professional: bool,
) -> Prepared:  # fmt: skip
    """The content work of `deposit`, done early (DOC-1 checks included). The caller owns the blob
    until `deposit` adopts it: it deletes it if the deposit does not happen."""
    check_content(settings, new, professional=professional)
    doc_id = uuid.uuid4()
    stored = vault.put_blob(session, holder_id, doc_id, PURPOSE, [new.content])
    _check_stored(new, stored)
    return Prepared(doc_id, holder_id, stored, professional)


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
    from_professional = actor.relation in (Relation.PROFESSIONAL, Relation.REGULATOR)
    migrated = new.source == "dmp-migration"
    _check_allowed(actor, space_facts(session, holder), holder, new, from_professional)
    prepared = new.prepared
    if prepared and (prepared.holder_id, prepared.professional) != (
        holder.id,
        from_professional or migrated,
    ):
        vault.drop_blob(prepared.stored.blob_id)  # prepared for another space: done again below
        prepared = None
    if prepared is None:
        check_content(settings, new, professional=from_professional or migrated)
    type_code, category, sensitivity = classify(new, professional=from_professional)
    if not from_professional and not migrated:
        _check_room(session, settings, principal, holder, len(new.content))
    _check_identifier_free(session, holder, new)
    replaced = _replaced(session, settings, actor, holder, new.replaces_id)
    now = clock.now()
    if prepared is None:
        doc_id = uuid.uuid4()
        stored = vault.put_blob(session, holder.id, doc_id, PURPOSE, [new.content])
        _check_stored(new, stored)
    else:
        doc_id, stored = prepared.doc_id, prepared.stored
        vault.adopt_blob(session, stored.blob_id)
    masked = (
        preferences(session, holder.id).mask_new_documents if new.masked is None else new.masked
    )
    doc = Document(
        id=doc_id,
        holder_id=holder.id,
        master_identifier=new.master_identifier or f"urn:uuid:{doc_id}",
        master_identifier_system=new.master_identifier_system if new.master_identifier else None,
        source=new.source if not from_professional else "professional",
        author_kind="professional" if from_professional else principal.kind.value,
        author_id=principal.id if not migrated else None,
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
        context_codes=new.context_codes,
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
        folder_id=own_folder(session, holder.id, new.folder_id).id if new.folder_id else None,
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


def _check_allowed(
    actor: Actor, space: SpaceFacts, holder: Holder, new: NewDocument, from_professional: bool
) -> None:
    """ID-3: professionals and the migration deposit only for a qualified identity
    (`decide_deposit_subject`, the FHIR path's decision too); the decision point decides who may
    add here (the migration is the operator's, decided by its command)."""
    if from_professional or new.source == "dmp-migration":
        subject = decide_deposit_subject(holder.ins_qualified, holder.state)
        if subject.reason == "ins-not-qualified":
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


def _check_identifier_free(session: Session, holder: Holder, new: NewDocument) -> None:
    """A master identifier is deposited once per space (a second deposit is a conflict)."""
    if not new.master_identifier:
        return
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


def _check_stored(new: NewDocument, stored: StoredBlob) -> None:
    """DOC-1: the content is what its sender declared (hashes, size)."""
    if new.expected_sha1 and new.expected_sha1.lower() != stored.sha1:
        raise InvalidInput("The content does not match its declared hash.", code="hash-mismatch")
    if new.expected_sha256 and new.expected_sha256.lower() != stored.sha256:
        raise InvalidInput("The content does not match its declared hash.", code="hash-mismatch")
    if new.expected_size is not None and new.expected_size != stored.size:
        raise InvalidInput("The content does not match its declared size.", code="size-mismatch")


def check_content(settings: Settings, new: NewDocument, *, professional: bool) -> None:
    """DOC-1: size, real type (sniffed, not declared) and a content that parses; shared with the
    DMP migration, which checks its files as a deposit is checked."""
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
    wait = rates.wait_for(
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
    wait = rates.use(
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


def classify(new: NewDocument, *, professional: bool) -> tuple[str | None, str, str]:
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
    require(
        decide_document_author_change(actor, space_facts(session, holder), facts(old)), hide=False
    )
    if old.status != "current":
        raise Conflict(
            "Only the current version of a document can be replaced.", code="not-current"
        )
    return old


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
            recipients += representative_emails(session, holder.id)
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
