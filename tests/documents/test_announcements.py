"""DOC-4 (announcement consultation) and DOC-7 (new-document e-mails), through the API, the
"documents.announcements" daily job and the outbox; REP-2 for a minor's representatives."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.accounts.models import Holder
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import changes, jobs
from carnet.documents.models import Document
from carnet.jobs.service import JobContext, registered_jobs, run_due
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.documents.samples import API, deposit, family, headers_for, professional
from tests.factories import make_holder

SECRET_TITLE = "Resultat anatomopathologique"


def run_job(database: Database, settings: Settings) -> str:
    context = JobContext(database=database, settings=settings, as_of=clock.today(), now=clock.now())
    return jobs.announcements(context)


def mails(database: Database, kind: str | None = None) -> list[OutboxMessage]:
    with database.transaction() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.scalars(query))


def reload(database: Database, doc_id: uuid.UUID) -> Document:
    with database.transaction() as session:
        doc = session.get(Document, doc_id)
        assert doc is not None
        return doc


def test_doc4_awaiting_document_is_counted_announced_then_released(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder = make_holder(session, email="patient@example.org")
    auth = headers_for(database, holder.id)
    doc = deposit(
        database, vault, settings, holder.id, title=SECRET_TITLE, type_code="11526-1",
        invisible_to_patient=True,
    )  # fmt: skip
    assert mails(database) == []  # DOC-7 waits until the document is visible

    # Hidden from the holder: not listed, not readable, only counted.
    listing = client.get(f"{API}/me/documents", headers=auth).json()
    assert (listing["total"], listing["items"], listing["awaiting_announcement"]) == (0, [], 1)
    assert client.get(f"{API}/me/documents/{doc.id}", headers=auth).status_code == 404
    assert client.get(f"{API}/me/documents/{doc.id}/content", headers=auth).status_code == 404
    filtered = client.get(f"{API}/me/documents?category=CPT_REND", headers=auth).json()
    assert filtered["awaiting_announcement"] == 1  # never narrowed: the count says no more

    # (a) The first run tells the holder that a document awaits, never what it is.
    assert run_job(database, settings).startswith("1 awaiting document(s) announced, 0 released")
    awaiting = mails(database, jobs.AWAITING_KIND)
    assert len(awaiting) == 1 and awaiting[0].recipient == "patient@example.org"
    text = awaiting[0].subject + awaiting[0].body_text
    for secret in (SECRET_TITLE, "anatomo", "11526-1", "Dr Test"):
        assert secret.lower() not in text.lower()
    deadline = doc.visible_to_patient_from
    assert deadline is not None
    shown = deadline.astimezone(ZoneInfo(settings.timezone)).strftime("%d/%m/%Y")
    assert f"au plus tard le {shown}" in awaiting[0].body_text
    assert reload(database, doc.id).awaiting_notice_sent_at is not None
    assert run_job(database, settings).startswith("0 awaiting")  # idempotent
    assert len(mails(database)) == 1

    # (b) A month after the deposit it becomes visible, with the DOC-7 e-mail.
    later = doc.deposited_at + dt.timedelta(days=32)
    with clock.frozen_at(later):
        assert run_job(database, settings) == "0 awaiting document(s) announced, 1 released"
        released = reload(database, doc.id)
        assert not released.invisible_to_patient and released.visible_notice_sent_at == later
        listing = client.get(f"{API}/me/documents", headers=auth).json()
        assert [i["id"] for i in listing["items"]] == [str(doc.id)]
        assert listing["awaiting_announcement"] == 0
        assert listing["items"][0]["title"] == SECRET_TITLE
        assert client.get(f"{API}/me/documents/{doc.id}/content", headers=auth).status_code == 200
        new = mails(database, "document.new")
        assert len(new) == 1 and new[0].recipient == "patient@example.org"
        assert SECRET_TITLE not in new[0].body_text + new[0].subject
        assert run_job(database, settings) == "0 awaiting document(s) announced, 0 released"
    assert len(mails(database)) == 2


def test_doc4_a_deposit_already_past_its_month_is_released_without_the_awaiting_notice(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """When the jobs did not run for a month, telling that a document awaits would be wrong."""
    with database.transaction() as session:
        holder = make_holder(session, email="patient@example.org")
    doc = deposit(database, vault, settings, holder.id, invisible_to_patient=True)
    with clock.frozen_at(doc.deposited_at + dt.timedelta(days=40)):
        assert run_job(database, settings) == "0 awaiting document(s) announced, 1 released"
    assert [m.kind for m in mails(database)] == ["document.new"]


def test_doc4_the_job_is_registered_daily_and_runs_with_the_others(
    database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder = make_holder(session, email="patient@example.org")
    deposit(database, vault, settings, holder.id, invisible_to_patient=True)
    outcomes = {o.name: o for o in run_due(database, settings)}
    assert outcomes["documents.announcements"].status == "ran"
    assert [j.period for j in registered_jobs() if j.name == "documents.announcements"] == ["daily"]
    assert len(mails(database, jobs.AWAITING_KIND)) == 1


def test_doc4_closed_spaces_and_withdrawn_documents_are_not_announced(
    database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder = make_holder(session, email="patient@example.org")
        other = make_holder(session, email="other@example.org")
        author = professional(session)
    deposit(database, vault, settings, holder.id, invisible_to_patient=True)
    withdrawn = deposit(
        database, vault, settings, other.id, author=author, invisible_to_patient=True
    )
    with database.transaction() as session:
        changes.change_by_author(
            session, settings, author, withdrawn.id,
            changes.SecurityChange(status="entered-in-error"),
        )  # fmt: skip
        row = session.get(Holder, holder.id)
        assert row is not None
        row.state = "closed"
    assert run_job(database, settings).startswith("0 awaiting")
    with clock.frozen_at(withdrawn.deposited_at + dt.timedelta(days=32)):
        assert run_job(database, settings).endswith("0 released")
    assert mails(database) == []


def test_rep2_doc4_representatives_are_told_only_of_what_they_may_see(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    fam = family(database)
    visible_to_parents = deposit(database, vault, settings, fam.child.id, invisible_to_patient=True)
    secret = deposit(
        database, vault, settings, fam.child.id, title=SECRET_TITLE,
        invisible_to_patient=True, invisible_to_representatives=True,
    )  # fmt: skip
    rep = headers_for(database, fam.parent.id, space=fam.child.id)
    assert client.get(f"{API}/me/documents", headers=rep).json()["awaiting_announcement"] == 1
    assert run_job(database, settings).startswith("2 awaiting")
    awaiting = mails(database, jobs.AWAITING_KIND)
    # One notice, to the parent, for the document they may see; none for the secret one.
    assert [m.recipient for m in awaiting] == ["parent@example.org"]
    with clock.frozen_at(secret.deposited_at + dt.timedelta(days=32)):
        assert run_job(database, settings).endswith("2 released")
        listing = client.get(f"{API}/me/documents", headers=rep).json()
        assert [i["id"] for i in listing["items"]] == [str(visible_to_parents.id)]
        assert client.get(f"{API}/me/documents/{secret.id}/content", headers=rep).status_code == 404
    new = mails(database, "document.new")
    assert [m.recipient for m in new] == ["parent@example.org"]  # REP-2: not for the secret one


# -- DOC-7 -------------------------------------------------------------------------------------


def test_doc7_a_professional_deposit_sends_one_mail_without_title_or_type(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder = make_holder(session, email="patient@example.org")
    deposit(database, vault, settings, holder.id, title="Serologie VIH", type_code="11502-2")
    sent = mails(database)
    assert len(sent) == 1
    mail = sent[0]
    assert (mail.kind, mail.recipient, mail.holder_id) == (
        "document.new",
        "patient@example.org",
        holder.id,
    )
    text = (mail.subject + mail.body_text).lower()
    for secret in ("serologie", "vih", "11502-2", "biolog", "dr test"):
        assert secret not in text
    # The holder's own upload tells no one.
    auth = headers_for(database, holder.id)
    files = {"file": ("moi.pdf", pdf_bytes(), "application/pdf")}
    assert client.post(f"{API}/me/documents", headers=auth, files=files).status_code == 201
    assert len(mails(database)) == 1


def test_doc7_the_holder_may_turn_the_mails_off(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder = make_holder(session, email="patient@example.org")
    auth = headers_for(database, holder.id)
    off = client.put(
        f"{API}/me/document-preferences", headers=auth, json={"notify_new_documents": False}
    )
    assert off.json() == {"mask_new_documents": False, "notify_new_documents": False}
    deposit(database, vault, settings, holder.id)
    assert mails(database) == []


def test_doc7_rep2_a_minors_representatives_are_told_except_for_secret_documents(
    database: Database, vault: Vault, settings: Settings
) -> None:
    fam = family(database)
    deposit(database, vault, settings, fam.child.id)
    deposit(database, vault, settings, fam.child.id, invisible_to_representatives=True)
    assert [m.recipient for m in mails(database)] == ["parent@example.org"]
