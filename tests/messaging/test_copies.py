"""Copies of record documents in messages ask the decision point, at send time for every
professional recipient (to and cc) and again at read time against the source (rules SRV-1, ACC-1,
DOC-3, REP-2, DOC-4, ACC-8).

The scenes: a GP of the care team writes to the holder and copies a nurse or a midwife with a
document attached from the record. A recipient who gets 404 reading that document directly may
not receive it in a message either; the refusal names them, is audited, and writes nothing. A copy
already sent follows its source: masked later, it is no longer readable by such a professional.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from carnet.accounts.models import Holder, Representation
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import deposits
from carnet.documents.fhir import VISIBILITY_SYSTEM
from carnet.documents.models import Document
from carnet.messaging.models import Attachment, Conversation, Message
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder, make_professional
from tests.fhir.support import document_reference
from tests.messaging.support import World, in_care, token, world

PSYCHIATRIC_SUMMARY = "68599-0"  # sensitivity "psy": a midwife (50) may not read it (ACC-1)


@pytest.fixture
def w(database: Database, vault: Vault, settings: Settings) -> World:
    return world(database, vault, settings)


@pytest.fixture
def midwife(database: Database, w: World) -> tuple[str, dict[str, str]]:
    """A midwife of the holder's care team: her profession may not read psychiatric documents."""
    with database.transaction() as session:
        pro = make_professional(session, profession_code="50", name="Sage-femme Lune")
        holder = session.get(Holder, w.holder_id)
        assert holder is not None
        in_care(session, holder, pro)
        return pro.rpps, token(session, PrincipalKind.PROFESSIONAL, pro.id)


def gp_deposit(
    database: Database, vault: Vault, settings: Settings, w: World, **new: Any
) -> uuid.UUID:
    """The GP deposits a document in the space (service level, as MHD does)."""
    values: dict[str, Any] = {
        "content": pdf_bytes(f"Compte rendu {uuid.uuid4()}"),
        "title": "Compte rendu",
        "declared_type": "application/pdf",
        "type_code": "11502-2",
        "notify": False,
    }
    values.update(new)
    with database.transaction() as session:
        holder = session.get(Holder, w.holder_id)
        assert holder is not None
        doc = deposits.deposit(
            session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, w.gp_id), holder,
            deposits.NewDocument(**values),
        )  # fmt: skip
        return doc.id


def send(client: TestClient, w: World, doc_id: uuid.UUID, **body: Any) -> Any:
    payload: dict[str, Any] = {
        "patient_id": str(w.holder_id), "subject": "Suivi", "body": "Pour information",
        "document_ids": [str(doc_id)],
    }  # fmt: skip
    payload.update(body)
    return client.post("/api/v1/pro/conversations", headers=w.gp, json=payload)


def count(database: Database, model: Any) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def denials(database: Database, action: str) -> list[str | None]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(AuditEntry.reason)
                .where(AuditEntry.action == f"{action}-denied")
                .order_by(AuditEntry.at, AuditEntry.seq)
            )
        )


def nothing_written(database: Database) -> None:
    assert count(database, Conversation) == 0
    assert count(database, Message) == 0
    assert count(database, Attachment) == 0


def mask(client: TestClient, w: World, doc_id: uuid.UUID, masked: bool = True) -> None:
    done = client.patch(f"/api/v1/me/documents/{doc_id}", headers=w.holder, json={"masked": masked})
    assert done.status_code == 200, done.text


def attachment_url(side: str, conversation: dict[str, Any]) -> str:
    [item] = conversation["messages"][-1]["attachments"]
    return f"/api/v1/{side}/conversations/{conversation['id']}/attachments/{item['id']}/content"


# -- at send time: every professional recipient passes the direct read's decision ---------------


def test_doc3_a_document_the_holder_masked_is_not_copied_to_a_cc(
    client: TestClient, database: Database, vault: Vault, settings: Settings, w: World
) -> None:
    """DOC-3, SRV-1: the GP (author) may read the document the holder masked; the nurse in cc may
    not (404 directly), so the send is refused naming her, audited, and nothing is written."""
    doc_id = gp_deposit(database, vault, settings, w)
    mask(client, w, doc_id)
    assert client.get(f"/fhir/DocumentReference/{doc_id}", headers=w.nurse).status_code == 404
    refused = send(client, w, doc_id, cc=[w.nurse_rpps])
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "recipient-may-not-read"
    assert w.nurse_rpps in error["message"] and "masked" in error["message"]
    nothing_written(database)
    assert denials(database, "message.send") == [f"masked:rpps:{w.nurse_rpps}"]
    # Unmasked, the same message goes (the rule, not the message, refused it).
    mask(client, w, doc_id, masked=False)
    assert send(client, w, doc_id, cc=[w.nurse_rpps]).status_code == 201


def test_doc3_a_document_deposited_with_masque_ps_is_not_copied_to_a_cc(
    client: TestClient, database: Database, w: World
) -> None:
    """DOC-3: the author's MASQUE_PS label masks the document from the start (MHD deposit); a
    cc'd professional who may not read it does not receive it."""
    with database.transaction() as session:
        holder = session.get(Holder, w.holder_id)
        assert holder is not None
        nir = holder.nir
    label = {"coding": [{"system": VISIBILITY_SYSTEM, "code": "MASQUE_PS"}]}
    body = document_reference(nir, w.gp_rpps, content=pdf_bytes("Masqué"), securityLabel=[label])
    created = client.post("/fhir/DocumentReference", json=body, headers=w.gp)
    assert created.status_code == 201, created.text
    doc_id = uuid.UUID(created.json()["id"])
    refused = send(client, w, doc_id, to=[w.nurse_rpps])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "recipient-may-not-read"
    assert w.nurse_rpps in refused.json()["error"]["message"]
    nothing_written(database)


def test_acc1_a_midwife_is_not_copied_a_psychiatric_summary(
    client: TestClient,
    database: Database,
    vault: Vault,
    settings: Settings,
    w: World,
    midwife: tuple[str, dict[str, str]],
) -> None:
    """ACC-1 (habilitation matrix): the midwife gets 404 reading the psychiatric summary
    directly, so she is not sent a copy either; the message says her profession may not."""
    rpps, headers = midwife
    doc_id = gp_deposit(database, vault, settings, w, type_code=PSYCHIATRIC_SUMMARY)
    assert client.get(f"/fhir/DocumentReference/{doc_id}", headers=headers).status_code == 404
    refused = send(client, w, doc_id, cc=[rpps])
    assert refused.status_code == 403
    message = refused.json()["error"]["message"]
    assert "Sage-femme Lune" in message and rpps in message
    assert "profession may not read" in message
    nothing_written(database)
    assert denials(database, "message.send") == [f"profession-not-habilitated:rpps:{rpps}"]
    # The nurse's profession may read it (matrix: 60 reads psy): she may be copied.
    assert send(client, w, doc_id, cc=[w.nurse_rpps]).status_code == 201


def test_srv1_replies_and_drafts_check_every_recipient_too(
    client: TestClient, database: Database, vault: Vault, settings: Settings, w: World
) -> None:
    """SRV-1, DOC-3: a reply copying a masked document to a conversation with a cc is refused;
    a draft is decided again when it is sent (the holder masked the document meanwhile)."""
    started = client.post(
        "/api/v1/pro/conversations", headers=w.gp,
        json={"patient_id": str(w.holder_id), "subject": "Suivi", "body": "Bonjour",
              "cc": [w.nurse_rpps]},
    )  # fmt: skip
    assert started.status_code == 201, started.text
    cid = started.json()["id"]
    masked = gp_deposit(database, vault, settings, w, masked=True)
    refused = client.post(
        f"/api/v1/pro/conversations/{cid}/messages", headers=w.gp,
        json={"body": "Ci-joint", "document_ids": [str(masked)]},
    )  # fmt: skip
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "recipient-may-not-read"
    # The holder replies with the same document: the nurse is still a recipient.
    holder_reply = client.post(
        f"/api/v1/me/conversations/{cid}/messages", headers=w.holder,
        json={"body": "Voici", "document_ids": [str(masked)]},
    )  # fmt: skip
    assert holder_reply.status_code == 403
    assert w.nurse_rpps in holder_reply.json()["error"]["message"]
    assert count(database, Message) == 1
    # A draft with a readable document, masked before it is sent.
    plain = gp_deposit(database, vault, settings, w)
    draft = client.post(
        f"/api/v1/pro/conversations/{cid}/messages", headers=w.gp,
        json={"body": "Brouillon", "document_ids": [str(plain)], "draft": True},
    )  # fmt: skip
    assert draft.status_code == 201, draft.text
    mask(client, w, plain)
    sent = client.post(
        f"/api/v1/pro/conversations/{cid}/messages/{draft.json()['id']}/send", headers=w.gp
    )
    assert sent.status_code == 403
    assert sent.json()["error"]["code"] == "recipient-may-not-read"
    with database.transaction() as session:
        assert session.get(Message, uuid.UUID(draft.json()["id"])).status == "draft"  # type: ignore[union-attr]


# -- at read time: the copy follows its source ----------------------------------------------------


def test_doc3_a_copy_masked_later_is_no_longer_readable_by_the_cc(
    client: TestClient, database: Database, vault: Vault, settings: Settings, w: World
) -> None:
    """DOC-3, ACC-8: sent while readable, the copy is decided again on each read: once the holder
    masks the source, the nurse gets 404 (audited) and no longer sees it listed; the holder and
    the author still read it."""
    doc_id = gp_deposit(database, vault, settings, w)
    sent = send(client, w, doc_id, cc=[w.nurse_rpps])
    assert sent.status_code == 201, sent.text
    conversation = sent.json()
    cid = conversation["id"]
    pro_url = attachment_url("pro", conversation)
    me_url = attachment_url("me", conversation)
    assert client.get(pro_url, headers=w.nurse).status_code == 200
    mask(client, w, doc_id)
    assert client.get(pro_url, headers=w.nurse).status_code == 404
    assert denials(database, "message.attachment-read") == ["masked"]
    seen = client.get(f"/api/v1/pro/conversations/{cid}", headers=w.nurse).json()
    assert seen["messages"][0]["attachments"] == []
    assert client.get(pro_url, headers=w.gp).status_code == 200  # DOC-3: the author
    assert client.get(me_url, headers=w.holder).status_code == 200
    mask(client, w, doc_id, masked=False)
    assert client.get(pro_url, headers=w.nurse).status_code == 200


def test_rep2_representatives_read_a_copy_only_as_they_read_its_source(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """REP-2: a copy whose source became invisible to representatives is refused to the
    representative (404, audited) though the professionals who may read it still do."""
    w = world(database, vault, settings, birth_date=dt.date(2016, 5, 1))
    with database.transaction() as session:
        parent = make_holder(session, email="parent@example.org")
        session.add(
            Representation(minor_id=w.holder_id, representative_id=parent.id,
                           representative_nir=parent.nir, role="managing", status="accepted")
        )  # fmt: skip
        parent_headers = token(session, PrincipalKind.HOLDER, parent.id)
    doc_id = gp_deposit(database, vault, settings, w)
    sent = send(client, w, doc_id, cc=[w.nurse_rpps])
    assert sent.status_code == 201, sent.text
    conversation = sent.json()
    space = {**parent_headers, "X-Carnet-Space": str(w.holder_id)}
    me_url = attachment_url("me", conversation)
    assert client.get(me_url, headers=space).status_code == 200
    with database.transaction() as session:
        session.execute(
            update(Document).where(Document.id == doc_id).values(invisible_to_representatives=True)
        )
    assert client.get(me_url, headers=space).status_code == 404
    assert denials(database, "message.attachment-read")[-1] == "invisible-to-representatives"
    assert client.get(attachment_url("pro", conversation), headers=w.nurse).status_code == 200


def test_carnet_decision_a_copy_of_a_deleted_document_stays_with_the_holder_side_only(
    client: TestClient, database: Database, vault: Vault, settings: Settings, w: World
) -> None:
    """DOC-6, SRV-1 (Carnet decision): once the holder deletes the source, professionals no
    longer read the copy (as the document itself answers 404); the holder side keeps it."""
    started = client.post(
        "/api/v1/me/conversations", headers=w.holder,
        json={"to": [w.pharmacy_rpps], "subject": "Question", "body": "Voici",
              "document_ids": [str(w.document_id)]},
    )  # fmt: skip
    assert started.status_code == 201, started.text
    cid = started.json()["id"]
    pro_url = attachment_url("pro", started.json())
    me_url = attachment_url("me", started.json())
    assert client.get(pro_url, headers=w.pharmacy).status_code == 200
    gone = client.delete(f"/api/v1/me/documents/{w.document_id}", headers=w.holder)
    assert gone.status_code == 204, gone.text
    assert client.get(pro_url, headers=w.pharmacy).status_code == 404
    assert denials(database, "message.attachment-read") == ["source-deleted"]
    assert client.get(me_url, headers=w.holder).status_code == 200
    assert (
        client.get(f"/api/v1/pro/conversations/{cid}", headers=w.pharmacy).json()["messages"][0][
            "attachments"
        ]
        == []
    )


def test_srv1_the_holder_may_not_copy_a_masked_document_to_a_pharmacy(
    client: TestClient, database: Database, vault: Vault, settings: Settings, w: World
) -> None:
    """SRV-1, DOC-3: the holder writes first to a pharmacy; attaching a document the pharmacy may
    not read (masked) is refused naming the pharmacy: unmask it first, or send a file."""
    doc_id = gp_deposit(database, vault, settings, w, masked=True)
    refused = client.post(
        "/api/v1/me/conversations", headers=w.holder,
        json={"to": [w.pharmacy_rpps], "subject": "Question", "body": "Voici",
              "document_ids": [str(doc_id)]},
    )  # fmt: skip
    assert refused.status_code == 403
    assert w.pharmacy_rpps in refused.json()["error"]["message"]
    nothing_written(database)
