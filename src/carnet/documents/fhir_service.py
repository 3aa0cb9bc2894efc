"""The FHIR interactions over the documents service: ITI-65, ITI-67, ITI-68, metadata updates.

Functions taking the request's session; the caller commits. Every rule is applied by
`documents.service` (deposit, reads, searches and changes go through the decision point and leave
their audit entries); this module resolves FHIR references to Carnet rows, says where a problem is
(an OperationOutcome `expression`) and builds the answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence

from sqlalchemy import delete
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import decide_deposit, decide_deposit_subject, mode_of
from carnet.access.service import SWITCHES, actor_for, actor_part, space_facts
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.audit import group as audit_group
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Preload
from carnet.documents import changes, deposits, fhir, fhir_in, fhir_in_bundle, fhir_in_labels, sniff
from carnet.documents import service as documents
from carnet.documents.models import STAGED_LIFETIME, STAGED_PURPOSE, Document, StagedBinary
from carnet.errors import CarnetError, Conflict, Forbidden, NotFound
from carnet.fhir import parse, resources, search
from carnet.fhir.parse import InvalidResource, Json, Problem, Problems, SubjectRef
from carnet.fhir.search import Page, paging_links
from carnet.fhir.service import fhir_base, find_holder, located, resolve_subject
from carnet.vault.service import DATA_KEY, Vault


def stage_binary(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    *,
    content: bytes,
    content_type: str,
    subject: SubjectRef,
    request_id: str | None = None,
) -> Json:
    """`POST /fhir/Binary`: keep the bytes, sealed under the patient's key, for a DocumentReference
    posted next by the same professional (within 24 h)."""
    problems = Problems()
    if len(content) > settings.max_upload_bytes:
        problems.add(
            "Binary.data", fhir_in.too_large_message(settings.max_upload_bytes), "too-long"
        )
    else:
        fhir_in.check_content(content, content_type, "Binary.data", "Binary.contentType", problems)
    problems.raise_if_any()
    holder = resolve_subject(session, subject)
    check_depositable(holder, subject.expression)
    actor = actor_for(session, settings, principal, holder)
    decision = decide_deposit(
        actor, space_facts(session, holder)
    )  # ACC-2, as for the deposit itself
    if not decision:
        raise Forbidden("You may not add documents to this space.", code=decision.reason)
    staged_id = uuid.uuid4()
    stored = vault.put_blob(session, holder.id, staged_id, STAGED_PURPOSE, [content])
    session.add(
        StagedBinary(
            id=staged_id,
            holder_id=holder.id,
            created_by_kind=principal.kind.value,
            created_by_id=principal.id,
            content_type=content_type[:100],
            size=stored.size,
            sha256=stored.sha256,
            blob_id=stored.blob_id,
            created_at=clock.now(),
        )
    )
    session.flush()
    record(
        session,
        principal,
        "document.stage-binary",
        holder_id=holder.id,
        target_type="Binary",
        target_id=str(staged_id),
        mode=mode_of(actor),
        request_id=request_id,
    )
    return fhir.staged_binary(staged_id, content_type, holder)


def claim_staged(
    session: Session,
    vault: Vault,
    principal: Principal,
    holder: Holder,
    parsed: fhir_in.ParsedDocument,
) -> None:
    """Put the staged bytes into `parsed.new`; the staged blob goes once the deposit commits."""
    assert parsed.staged_id is not None
    where = f"{parsed.content_path}.url"
    staged = session.get(StagedBinary, parsed.staged_id)
    if (
        staged is None
        or staged.created_by_id != principal.id
        or staged.created_by_kind != principal.kind.value
        or staged.holder_id != holder.id
        or staged.created_at < clock.now() - STAGED_LIFETIME
    ):
        raise located(
            NotFound(
                "No Binary with this id was posted by you for this patient in the last 24 hours."
            ),
            where,
        )
    declared = parsed.new.declared_type
    if declared and sniff.normalize_declared(declared) != sniff.normalize_declared(
        staged.content_type
    ):
        raise InvalidResource(
            [
                Problem(
                    f"{parsed.content_path}.contentType",
                    f"The Binary was posted as {staged.content_type}, the attachment says "
                    f"{declared}.",
                    "value",
                )
            ]
        )
    parsed.new.declared_type = declared or staged.content_type
    parsed.new.content = vault.read_blob_bytes(
        session, holder.id, staged.id, STAGED_PURPOSE, staged.blob_id, expected_sha256=staged.sha256
    )
    claimed = session.execute(delete(StagedBinary).where(StagedBinary.id == staged.id))
    if getattr(claimed, "rowcount", 1) != 1:  # claimed meanwhile by a concurrent request
        raise located(NotFound("This Binary was already used."), where)
    vault.delete_blob_after_commit(session, staged.blob_id)


def parse_bundle(settings: Settings, body: object) -> fhir_in_bundle.ParsedBundle:
    """An ITI-65 Bundle checked and read (InvalidResource lists every problem)."""
    return fhir_in_bundle.transaction_bundle(
        body, limit=settings.max_upload_bytes, timezone=settings.timezone
    )


def prepare_bundle(
    session: Session, vault: Vault, settings: Settings, bundle: fhir_in_bundle.ParsedBundle
) -> list[deposits.Prepared]:
    """The content work of a Bundle's documents, before its write transaction (issue 14): each
    inline document checked (DOC-1), encrypted with its patient's key and stored durably, so
    that the transaction holds the write lock for the rows only. Nothing is decided here: on any
    refusal nothing is prepared, and `provide_bundle` refuses the Bundle with its bookkeeping.
    The caller drops the returned blobs if the deposit does not commit."""
    prepared: list[deposits.Prepared] = []
    try:
        subjects = [parsed.subject for _i, parsed in bundle.documents if parsed.subject]
        if not subjects:
            return prepared
        holder = resolve_subject(session, subjects[0])
        for _index, parsed in bundle.documents:
            if parsed.staged_id is not None:  # a Binary posted before: stored already
                continue
            parsed.new.prepared = deposits.prepare_content(
                session, vault, settings, holder.id, parsed.new, professional=True
            )
            prepared.append(parsed.new.prepared)
    except CarnetError:
        drop_prepared(vault, prepared)
        for _index, parsed in bundle.documents:
            parsed.new.prepared = None
        return []
    return prepared


def drop_prepared(vault: Vault, prepared: Sequence[deposits.Prepared]) -> None:
    """Delete prepared blobs (a deposit that did not commit; deleting twice is harmless)."""
    for item in prepared:
        vault.drop_blob(item.stored.blob_id)


def provide_bundle(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    body: object,
    *,
    request_id: str | None = None,
) -> Json:
    """ITI-65 Provide Document Bundle: all documents or none (the caller's transaction); the
    Bundle's audit entries are appended together at its commit (ACC-8). `body` is the request's
    JSON, or the Bundle `parse_bundle` read and `prepare_bundle` prepared."""
    audit_group.batch(session)
    bundle = body if isinstance(body, fhir_in_bundle.ParsedBundle) else parse_bundle(settings, body)
    parsed_documents = [parsed for _index, parsed in bundle.documents]
    # The space's switches, data key and the depositor's standing come with the patient.
    parts = (SWITCHES, DATA_KEY, *actor_part(settings, principal))
    holder, rpps = _prepare(session, principal, parsed_documents, parts)
    if bundle.list_subject is not None:
        listed = resolve_subject(session, bundle.list_subject)
        if listed.id != holder.id:
            raise InvalidResource(
                [
                    Problem(
                        bundle.list_subject.expression,
                        "The submission set is about another patient than its documents.",
                        "value",
                    )
                ]
            )
    stored: dict[int, Document] = {}
    for index, parsed in bundle.documents:
        stored[index] = _deposit(
            session, vault, settings, principal, holder, parsed, rpps, request_id
        )
    list_id = uuid.uuid4()
    entries: list[Json] = []
    for index, kind in enumerate(bundle.kinds):
        if kind == "List":
            entries.append(
                resources.created_entry(
                    None,
                    full_url=f"urn:uuid:{list_id}",
                    resource=fhir.submission_set(
                        list_id,
                        holder,
                        list(stored.values()),
                        identifiers=bundle.list_identifiers,
                    ),
                )
            )
        elif kind == "DocumentReference":
            doc = stored[index]
            entries.append(
                resources.created_entry(
                    f"DocumentReference/{doc.id}", last_modified=doc.deposited_at
                )
            )
        elif kind == "Parameters":  # the MHD PATCH: done by the replacement itself (DOC-6)
            entries.append(
                resources.created_entry(
                    f"DocumentReference/{bundle.superseded[index]}",
                    last_modified=max(doc.deposited_at for doc in stored.values()),
                    status="200 OK",
                )
            )
        else:
            doc = stored[bundle.binary_owner[index]]
            entries.append(
                resources.created_entry(f"Binary/{doc.id}", last_modified=doc.deposited_at)
            )
    return resources.transaction_response(entries)


def create_document_reference(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    body: object,
    *,
    request_id: str | None = None,
) -> Json:
    """`POST /fhir/DocumentReference` with the content inline or in a Binary posted before."""
    problems = parse.resource_type_problem(body, "DocumentReference")
    problems.raise_if_any()
    assert isinstance(body, dict)
    parsed = fhir_in.document_reference(
        body,
        "DocumentReference",
        problems,
        limit=settings.max_upload_bytes,
        timezone=settings.timezone,
    )
    problems.raise_if_any()
    parts = (SWITCHES, DATA_KEY, *actor_part(settings, principal))
    holder, rpps = _prepare(session, principal, [parsed], parts)
    doc = _deposit(session, vault, settings, principal, holder, parsed, rpps, request_id)
    return fhir.document_reference(doc, parsed.new.title, holder, base=fhir_base(settings))


def document_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(documents.NOT_FOUND) from None


def read_document(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    doc_id: str,
    *,
    request_id: str | None = None,
) -> Json:
    doc = documents.get(session, settings, principal, document_id(doc_id), request_id=request_id)
    holder = documents.holder_by_id(session, doc.holder_id)
    title = documents.title_of(session, vault, doc)
    return fhir.document_reference(doc, title, holder, base=fhir_base(settings))


def search_documents(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    params: list[tuple[str, str]],
    *,
    request_id: str | None = None,
    lenient: bool = False,
) -> Json:
    """ITI-67: the documents of one patient that the principal may read, narrowed in SQL;
    `lenient` (`Prefer: handling=lenient`): unknown parameters ignored, and said so."""
    wanted = search.document_search(params, settings.timezone, lenient=lenient)
    base = fhir_base(settings)
    holder: Holder | None = None
    if wanted.patient is not None:
        holder = find_holder(
            session,
            holder_id=wanted.patient.holder_id,
            nir=wanted.patient.nir,
            preload=(SWITCHES, DATA_KEY, *actor_part(settings, principal)),
        )
    elif principal.kind is PrincipalKind.HOLDER:
        holder = account_service.holder(
            session, principal.id
        )  # a holder's own documents by default
    elif principal.app_grant is not None:
        holder = account_service.holder(
            session, principal.app_grant.space_id
        )  # ACC-9: the app's space
    else:
        raise InvalidResource(
            [
                Problem(
                    "patient",
                    "ITI-67 needs the patient: patient=Patient/<id> or "
                    f"patient.identifier={INS_NIR_SYSTEM}|<NIR>.",
                    "required",
                )
            ]
        )
    query = wanted.query
    total: int
    rows: Sequence[Document]
    if holder is None:
        total, rows = 0, []  # nobody with this identity: nothing to read
    else:
        total, rows = documents.search(
            session, settings, principal, holder, query, request_id=request_id
        )
    entries = []
    for doc in rows:
        assert holder is not None
        entries.append(
            (
                f"{base}/DocumentReference/{doc.id}",
                fhir.document_reference(
                    doc, documents.title_of(session, vault, doc), holder, base=base
                ),
            )
        )
    links = paging_links(
        f"{base}/DocumentReference", wanted.criteria, Page(query.offset, query.count, total)
    )
    return resources.searchset(entries, total, links, ignored=wanted.ignored)


def read_content(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    doc_id: str,
    *,
    request_id: str | None = None,
) -> tuple[Document, Iterator[bytes]]:
    """ITI-68: the decision and the audit entry first (documents.service), then a stream of the
    decrypted bytes whose SHA-256 is checked when it ends."""
    return documents.read_content(
        session, vault, settings, principal, document_id(doc_id), request_id=request_id
    )


def update_document(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    doc_id: str,
    body: object,
    *,
    request_id: str | None = None,
) -> Json:
    """`PUT /fhir/DocumentReference/{id}`: the stored resource with only status
    (→ entered-in-error) and securityLabel changed, by the author (DOC-4, DOC-6)."""
    return _change_metadata(
        session, vault, settings, principal, document_id(doc_id), lambda _stored: body,
        request_id=request_id,
    )  # fmt: skip


def patch_document(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    target: str | tuple[str | None, str],
    kind: str,
    patch: object,
    *,
    request_id: str | None = None,
) -> Json:
    """`PATCH /fhir/DocumentReference/{id}` or, conditionally, `?identifier=[system|]value` (PDSm
    flux 03): the patch applied to the stored resource, then checked as a PUT body is. A
    conditional patch looks among the documents this professional authored only: none is 404,
    several 412 (FHIR conditional patch), so nobody learns of another author's identifiers."""
    if isinstance(target, tuple):
        wanted = _authored_by_identifier(session, principal, target)
    else:
        wanted = document_id(target)
    return _change_metadata(
        session, vault, settings, principal, wanted,
        lambda stored: fhir_in_labels.patched(stored, kind, patch), request_id=request_id,
    )  # fmt: skip


def _authored_by_identifier(
    session: Session, principal: Principal, identifier: tuple[str | None, str]
) -> uuid.UUID:
    system, value = identifier
    found = documents.authored_with_master_identifier(
        session, principal, value, None if system == resources.URI_SYSTEM else system, limit=2
    )
    if not found:
        raise located(NotFound("No document of yours has this identifier."), "identifier")
    if len(found) > 1:
        error = Conflict("Several documents of yours have this identifier.", code="ambiguous")
        error.status_code = 412
        raise located(error, "identifier")
    return found[0]


def _change_metadata(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    wanted: uuid.UUID,
    body_of: Callable[[Json], object],
    *,
    request_id: str | None = None,
) -> Json:
    doc = documents.get(session, settings, principal, wanted, request_id=request_id)
    holder = documents.holder_by_id(session, doc.holder_id)
    title = documents.title_of(session, vault, doc)
    stored = fhir.document_reference(doc, title, holder, base=fhir_base(settings))
    change = fhir_in_labels.security_change(stored, body_of(stored), str(doc.id))
    try:
        doc = changes.change_by_author(
            session, settings, principal, wanted, change, request_id=request_id
        )
    except CarnetError as error:
        where = {
            "holder-decides-masking": "DocumentReference.securityLabel",
            "already-visible": "DocumentReference.securityLabel",
        }.get(error.code, "DocumentReference")
        raise located(error, where) from None
    return fhir.document_reference(doc, title, holder, base=fhir_base(settings))


def check_depositable(holder: Holder, where: str) -> None:
    """ID-3: a qualified INS (422 otherwise); the space must be open (409 otherwise), as
    `access.rules.decide_deposit_subject` decides."""
    decision = decide_deposit_subject(holder.ins_qualified, holder.state)
    if decision.reason == "ins-not-qualified":
        error = CarnetError(
            "This patient's identity (INS) is not qualified: documents cannot be deposited "
            "until it is checked against the insurer's register (rule ID-3).",
            code="ins-not-qualified",
        )
        error.status_code = 422
        raise located(error, where)
    if not decision:
        raise located(
            Conflict(
                f"This patient's space is not open (state {holder.state}): nothing can be "
                "deposited in it.",
                code="space-not-open",
            ),
            where,
        )


def depositor_rpps(session: Session, principal: Principal) -> str:
    professional = account_service.professional(session, principal.id)
    if professional is None:
        raise Forbidden("Only registered professionals deposit documents (rule ACC-2).")
    return professional.rpps


def check_authors(documents_: Sequence[fhir_in.ParsedDocument], rpps: str) -> None:
    """ID-2: the Practitioner author (RPPS) must be the professional depositing (403)."""
    problems = Problems()
    for parsed in documents_:
        for value, where in parsed.authors:
            if value != rpps:
                problems.add(
                    where,
                    f"The author's RPPS {value} is not the depositing professional's (rule ID-2).",
                    "forbidden",
                )
    if problems:
        error = InvalidResource(problems.items, status=403)
        error.code = "author-mismatch"
        raise error


def _deposit(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    parsed: fhir_in.ParsedDocument,
    rpps: str,
    request_id: str | None,
) -> Document:
    if parsed.staged_id is not None:
        claim_staged(session, vault, principal, holder, parsed)
    parsed.new.author_rpps = rpps
    try:
        return deposits.deposit(
            session, vault, settings, principal, holder, parsed.new, request_id=request_id
        )
    except CarnetError as error:
        raise located(error, _where(error, parsed)) from None


def _where(error: CarnetError, parsed: fhir_in.ParsedDocument) -> str:
    """Where a problem found by `documents.deposit` lies in the DocumentReference."""
    by_code = {
        "duplicate-document": f"{parsed.expression}.masterIdentifier",
        "hash-mismatch": f"{parsed.content_path}.hash",
        "size-mismatch": f"{parsed.content_path}.size",
        "too-large": f"{parsed.content_path}",
        "unsupported-type": f"{parsed.content_path}",
        "unreadable-pdf": f"{parsed.content_path}",
        "unknown-type": f"{parsed.expression}.type",
        "category-mismatch": f"{parsed.expression}.category",
    }
    if error.code in by_code:
        return by_code[error.code]
    if parsed.replaces_path and error.code in ("not-found", "not-current", "not-author"):
        return parsed.replaces_path
    if error.field == "title":
        return f"{parsed.expression}.description"
    if error.field == "content":
        return parsed.content_path
    return parsed.expression


def _prepare(
    session: Session,
    principal: Principal,
    documents_: Sequence[fhir_in.ParsedDocument],
    parts: Sequence[Preload],
) -> tuple[Holder, str]:
    """One patient for the whole submission (MHD), depositable; authors match the depositor."""
    holders = [
        (resolve_subject(session, parsed.subject, preload=parts), parsed.subject.expression)
        for parsed in documents_
        if parsed.subject is not None
    ]
    first, where = holders[0]
    others = [(h, w) for h, w in holders[1:] if h.id != first.id]
    if others:
        raise InvalidResource(
            [
                Problem(w, f"Another patient than in {where}: one patient per submission.", "value")
                for _h, w in others
            ]
        )
    check_depositable(first, where)
    rpps = depositor_rpps(session, principal)
    check_authors(documents_, rpps)
    return first, rpps
