"""The documents service under the decision point: deposit checks and who reads what
(rules DOC-1…DOC-6, ID-3, REP-2, ACC-2)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts.models import Representation
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import changes, deposits, service
from carnet.documents.models import Document
from carnet.errors import Conflict, Forbidden, InvalidInput, NotFound
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder, make_professional


def pro(session: Session) -> Principal:
    return Principal(PrincipalKind.PROFESSIONAL, make_professional(session).id)


def me(holder_id: uuid.UUID) -> Principal:
    return Principal(PrincipalKind.HOLDER, holder_id)


def new(**overrides: object) -> deposits.NewDocument:
    values: dict[str, object] = {
        "content": pdf_bytes(),
        "title": "CR biologie",
        "declared_type": "application/pdf",
        "type_code": "11502-2",
    }
    values.update(overrides)
    return deposits.NewDocument(**values)  # type: ignore[arg-type]


def blob_files(settings: Settings) -> list[Path]:
    root = settings.effective_blob_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_doc1_deposit_classifies_by_loinc_and_hashes(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session, email="h@example.org")
    author = pro(session)
    content = pdf_bytes("résultats")
    doc = deposits.deposit(session, vault, settings, author, holder, new(content=content))
    assert (doc.category, doc.sensitivity, doc.mime_type) == ("BIOLOGIE", "general", "application/pdf")
    import hashlib

    assert doc.sha256 == hashlib.sha256(content).hexdigest()
    assert doc.size == len(content)
    assert service.title_of(session, vault, doc) == "CR biologie"
    assert b"CR biologie" not in doc.title_sealed
    _doc, stream = service.read_content(session, vault, settings, author, doc.id)
    assert b"".join(stream) == content


def test_doc1_type_and_content_checks(session: Session, vault: Vault, settings: Settings) -> None:
    holder = make_holder(session)
    author = pro(session)
    cases = [
        (new(type_code="99999-9"), "unknown-type"),
        (new(type_code=None), None),
        (new(content=b"\x89PNG\r\n\x1a\n" + b"0" * 40), "unsupported-type"),
        (new(declared_type="text/xml"), "unsupported-type"),
        (new(content=b"%PDF-1.4 garbage"), "unreadable-pdf"),
        (new(content=b""), None),
        (new(expected_sha1="0" * 40), "hash-mismatch"),
        (new(expected_size=3), "size-mismatch"),
    ]
    for document, code in cases:
        with pytest.raises(InvalidInput) as caught:
            deposits.deposit(session, vault, settings, author, holder, document)
        if code:
            assert caught.value.code == code
    assert session.scalars(select(Document)).first() is None


def test_id3_unqualified_identity_is_refused(session: Session, vault: Vault, settings: Settings) -> None:
    holder = make_holder(session, ins_qualified=False)
    with pytest.raises(InvalidInput) as caught:
        deposits.deposit(session, vault, settings, pro(session), holder, new())
    assert caught.value.code == "ins-not-qualified"


def test_closed_space_refuses_deposits(session: Session, vault: Vault, settings: Settings) -> None:
    holder = make_holder(session, state="closed")
    with pytest.raises(Conflict):
        deposits.deposit(session, vault, settings, pro(session), holder, new())


def test_rollback_leaves_no_blob(database, vault: Vault, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    with database.transaction() as session:
        holder = make_holder(session)
        author = pro(session)
    with pytest.raises(RuntimeError), database.transaction() as session:
        holder = session.merge(holder)
        deposits.deposit(session, vault, settings, author, holder, new())
        assert blob_files(settings)
        raise RuntimeError("crash before commit")
    assert blob_files(settings) == []


def test_acc2_other_professionals_do_not_read_but_the_author_does(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session)
    author, other = pro(session), pro(session)
    doc = deposits.deposit(session, vault, settings, author, holder, new())
    assert service.get(session, settings, author, doc.id).id == doc.id
    with pytest.raises(NotFound):
        service.get(session, settings, other, doc.id)
    total, rows = service.search(session, settings, other, holder, service.SearchQuery())
    assert (total, list(rows)) == (0, [])
    denied = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "document.read-metadata-denied")
    ).one()
    assert denied.actor_id == str(other.id)


def test_doc3_masked_stays_visible_to_holder_and_author(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session)
    author = pro(session)
    doc = deposits.deposit(session, vault, settings, author, holder, new())
    changes.change_by_holder(session, vault, settings, me(holder.id), doc.id,
                             changes.HolderChange(masked=True))
    assert doc.masked
    assert service.get(session, settings, me(holder.id), doc.id)
    assert service.get(session, settings, author, doc.id)
    with pytest.raises(Forbidden):
        changes.change_by_author(session, settings, author, doc.id,
                                 changes.SecurityChange(masked=False))


def test_doc4_invisible_to_patient_until_one_month_or_release(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session, email="h@example.org")
    author = pro(session)
    doc = deposits.deposit(session, vault, settings, author, holder, new(invisible_to_patient=True))
    assert session.scalars(select(OutboxMessage)).first() is None  # DOC-7 only once visible
    with pytest.raises(NotFound):
        service.get(session, settings, me(holder.id), doc.id)
    assert service.search(session, settings, me(holder.id), holder, service.SearchQuery())[0] == 0
    with clock.frozen_at(doc.deposited_at + dt.timedelta(days=31)):
        assert service.get(session, settings, me(holder.id), doc.id)
    other = deposits.deposit(session, vault, settings, author, holder, new(invisible_to_patient=True))
    changes.change_by_author(session, settings, author, other.id,
                             changes.SecurityChange(invisible_to_patient=False))
    assert service.get(session, settings, me(holder.id), other.id)
    assert len(session.scalars(select(OutboxMessage)).all()) == 1


def test_doc5_holder_default_masks_new_documents(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session)
    changes.set_preferences(session, holder, me(holder.id), mask_new_documents=True)
    doc = deposits.deposit(session, vault, settings, pro(session), holder, new())
    assert doc.masked


def test_doc6_replacement_supersedes_and_withdrawal(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session)
    author, other = pro(session), pro(session)
    first = deposits.deposit(session, vault, settings, author, holder, new())
    with pytest.raises(Forbidden):
        deposits.deposit(session, vault, settings, other, holder, new(replaces_id=first.id))
    second = deposits.deposit(session, vault, settings, author, holder, new(replaces_id=first.id))
    assert (first.status, second.status, second.version) == ("superseded", "current", 2)
    assert second.replaces_id == first.id
    changes.change_by_author(session, settings, author, second.id,
                             changes.SecurityChange(status="entered-in-error"))
    with pytest.raises(NotFound):
        service.get(session, settings, me(holder.id), second.id)
    assert service.get(session, settings, author, second.id).status == "entered-in-error"


def test_doc6_holder_deletes_unless_not_deletable(
    database, vault: Vault, settings: Settings  # type: ignore[no-untyped-def]
) -> None:
    with database.transaction() as session:
        holder = make_holder(session)
        holder_id = holder.id
        author = pro(session)
        doc = deposits.deposit(session, vault, settings, author, holder, new())
        locked = deposits.deposit(session, vault, settings, author, holder, new(not_deletable=True))
        doc_id, locked_id = doc.id, locked.id
    assert len(blob_files(settings)) == 2
    with database.transaction() as session:
        changes.delete_by_holder(session, vault, settings, me(holder_id), doc_id)
        assert len(blob_files(settings)) == 2  # the blob goes only once the deletion commits
    assert len(blob_files(settings)) == 1
    with pytest.raises(Conflict), database.transaction() as session:
        changes.delete_by_holder(session, vault, settings, me(holder_id), locked_id)


def test_rep2_representatives_never_see_secret_documents(
    session: Session, vault: Vault, settings: Settings
) -> None:
    parent = make_holder(session, email="parent@example.org")
    child = make_holder(session, birth_date=clock.today() - dt.timedelta(days=16 * 365))
    session.add(Representation(minor_id=child.id, representative_id=parent.id,
                               representative_nir=parent.nir, role="managing", status="accepted"))
    session.flush()
    author = pro(session)
    open_doc = deposits.deposit(session, vault, settings, author, child, new())
    secret = deposits.deposit(session, vault, settings, author, child,
                             new(invisible_to_representatives=True))
    total, rows = service.search(session, settings, me(parent.id), child, service.SearchQuery())
    assert total == 1 and [r.id for r in rows] == [open_doc.id]
    with pytest.raises(NotFound):
        service.get(session, settings, me(parent.id), secret.id)
    mails = session.scalars(select(OutboxMessage)).all()
    assert len(mails) == 1 and mails[0].recipient == "parent@example.org"  # only the open one
    assert "CR biologie" not in mails[0].body_text


def test_search_filters_and_sorting(session: Session, vault: Vault, settings: Settings) -> None:
    holder = make_holder(session)
    author = pro(session)
    with clock.frozen_at(dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)):
        bio = deposits.deposit(session, vault, settings, author, holder, new())
    with clock.frozen_at(dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC)):
        img = deposits.deposit(session, vault, settings, author, holder, new(type_code="18748-4"))
    q = service.SearchQuery
    assert [d.id for d in service.search(session, settings, author, holder, q())[1]] == [img.id, bio.id]
    assert [d.id for d in service.search(session, settings, author, holder, q(sort="date"))[1]] == [bio.id, img.id]
    assert [d.id for d in service.search(session, settings, author, holder, q(categories=["RADIO_SC"]))[1]] == [img.id]
    assert [d.id for d in service.search(session, settings, author, holder, q(type_codes=["11502-2"]))[1]] == [bio.id]
    after = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    assert [d.id for d in service.search(session, settings, author, holder, q(date_from=after))[1]] == [img.id]
    total, page = service.search(session, settings, author, holder, q(count=1, offset=1))
    assert total == 2 and [d.id for d in page] == [bio.id]
    with pytest.raises(InvalidInput):
        service.search(session, settings, author, holder, q(sort="title"))


def test_holder_uploads_take_a_category(session: Session, vault: Vault, settings: Settings) -> None:
    holder = make_holder(session)
    doc = deposits.deposit(
        session, vault, settings, me(holder.id), holder,
        new(type_code=None, category="DOC_ADM", content=b"carte mutuelle\n", declared_type="text/plain",
            source="holder"),
    )
    assert (doc.category, doc.sensitivity, doc.author_kind) == ("DOC_ADM", "administrative", "holder")
    with pytest.raises(InvalidInput):
        deposits.deposit(session, vault, settings, me(holder.id), holder,
                        new(type_code=None, category="NOPE", source="holder"))
