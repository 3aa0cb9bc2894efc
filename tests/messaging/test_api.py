"""Secure messaging through the holder and professional APIs (rules SRV-1, ID-3, ACC-8, REP-4).

Each test reads as one clause of SRV-1: who writes first, replies, ending, to/cc, drafts, read
receipts, attachments (device, documents, saving them), the mailbox quota, deleting for oneself,
notices without content; refusals are clear, audited, and leave nothing written.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.accounts.models import Holder, Representation
from carnet.audit.models import AuditEntry
from carnet.auth.principal import PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.models import Document
from carnet.messaging.models import Attachment, Conversation, Message
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder
from tests.messaging.support import World, start, token, world


@pytest.fixture
def w(database: Database, vault: Vault, settings: Settings) -> World:
    return world(database, vault, settings)


def _count(database: Database, model: Any) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _actions(database: Database, prefix: str) -> list[tuple[str, str | None]]:
    with database.transaction() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.reason)
            .where(AuditEntry.action.like(f"{prefix}%"))
            .order_by(AuditEntry.at, AuditEntry.seq)
        ).all()
    return [(a, r) for a, r in rows]


def _nothing_written(database: Database, settings: Settings) -> None:
    assert _count(database, Conversation) == 0
    assert _count(database, Message) == 0
    assert _count(database, Attachment) == 0
    blobs = [p for p in settings.effective_blob_dir.rglob("*") if p.is_file()]
    assert len(blobs) == 1  # the pharmacy's document only


# -- who writes first (SRV-1, ID-3) ---------------------------------------------------------------


def test_srv1_a_professional_writes_first_and_the_holder_replies(
    client: TestClient, database: Database, w: World
) -> None:
    started = start(client, w, cc=[w.nurse_rpps])
    assert started.status_code == 201, started.text
    conversation = started.json()
    assert conversation["status"] == "open"
    roles = {(p["party"], p["role"], p["rpps"]) for p in conversation["participants"]}
    assert ("holder", "to", None) in roles and ("professional", "cc", w.nurse_rpps) in roles
    listed = client.get("/api/v1/me/conversations", headers=w.holder).json()
    assert [(c["subject"], c["unread"]) for c in listed] == [("Vos résultats", 1)]
    read = client.get(f"/api/v1/me/conversations/{conversation['id']}", headers=w.holder).json()
    assert [m["body"] for m in read["messages"]] == ["Bonjour"]
    reply = client.post(
        f"/api/v1/me/conversations/{conversation['id']}/messages",
        headers=w.holder,
        json={"body": "Merci docteur"},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["author_signs_as"] == "self"
    # The cc'd nurse reads the whole conversation (to/cc: several professionals).
    seen = client.get(f"/api/v1/pro/conversations/{conversation['id']}", headers=w.nurse).json()
    assert [m["body"] for m in seen["messages"]] == ["Bonjour", "Merci docteur"]
    assert ("message.send", f"conversation:{conversation['id']}") in _actions(database, "message")
    assert any(a == "message.read" for a, _ in _actions(database, "message"))  # ACC-8


def test_id3_no_message_to_an_unqualified_identity(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    w = world(database, vault, settings, ins_qualified=False)
    refused = start(client, w)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ins-not-qualified"
    assert "ID-3" in refused.json()["error"]["message"]
    _nothing_written(database, settings)
    assert _actions(database, "message.send") == [("message.send-denied", "ins-not-qualified")]


def test_srv1_a_professional_writes_only_to_spaces_they_may_access(
    client: TestClient, database: Database, settings: Settings, w: World
) -> None:
    refused = client.post(
        "/api/v1/pro/conversations",
        headers=w.stranger,
        json={"patient_id": str(w.holder_id), "subject": "Hello", "body": "Bonjour"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not-in-care-team"
    # Nor may they be put in cc: they would read the conversation.
    cc = start(client, w, cc=[w.stranger_rpps])
    assert cc.status_code == 403
    assert cc.json()["error"]["code"] == "recipient-not-in-care-team"
    _nothing_written(database, settings)
    assert [r for _a, r in _actions(database, "message.send-denied")] == [
        "not-in-care-team",
        "recipient-not-in-care-team",
    ]


def test_srv1_a_blocked_professional_can_no_longer_write_or_read(
    client: TestClient, database: Database, w: World
) -> None:
    """SRV-1, ACC-3: a blocked professional neither writes nor reads, and is told what a
    professional outside the care team is told (the block is never told; the audit has it)."""
    conversation = start(client, w).json()
    blocked = client.put(
        f"/api/v1/me/professionals/{w.gp_rpps}", headers=w.holder, json={"status": "blocked"}
    )
    assert blocked.status_code == 200, blocked.text
    refused = start(client, w).json()["error"]
    assert refused["code"] == "not-in-care-team"
    assert "blocked" not in refused["message"]
    assert [r for _a, r in _actions(database, "message.send-denied")] == ["blocked"]
    # Naming a blocked colleague in cc is refused as naming one outside the care team.
    cc = start(client, replace(w, gp=w.nurse), cc=[w.gp_rpps]).json()["error"]
    assert cc["code"] == "recipient-not-in-care-team"
    read = client.get(f"/api/v1/pro/conversations/{conversation['id']}", headers=w.gp)
    assert read.status_code == 404


def test_srv1_the_holder_writes_first_only_to_a_pharmacy_that_dispensed(
    client: TestClient, database: Database, settings: Settings, w: World
) -> None:
    pharmacies = client.get("/api/v1/me/messaging/pharmacies", headers=w.holder).json()
    assert [p["rpps"] for p in pharmacies] == [w.pharmacy_rpps]
    for rpps, code in (
        (w.gp_rpps, "not-a-dispensing-pharmacy"),  # not a pharmacy
        (w.other_pharmacy_rpps, "not-a-dispensing-pharmacy"),  # never dispensed to them
    ):
        refused = client.post(
            "/api/v1/me/conversations",
            headers=w.holder,
            json={"to": [rpps], "subject": "Question", "body": "Bonjour"},
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == code
        assert "pharmacy" in refused.json()["error"]["message"]
    _nothing_written(database, settings)
    ok = client.post(
        "/api/v1/me/conversations",
        headers=w.holder,
        json={"to": [w.pharmacy_rpps], "subject": "Ordonnance", "body": "Est-ce prêt ?"},
    )
    assert ok.status_code == 201, ok.text
    answer = client.post(
        f"/api/v1/pro/conversations/{ok.json()['id']}/messages",
        headers=w.pharmacy,
        json={"body": "Oui, passez demain."},
    )
    assert answer.status_code == 201


def test_srv1_a_pharmacy_named_by_a_reimbursement_line_dispensed_too(
    client: TestClient, database: Database, vault: Vault, settings: Settings, w: World
) -> None:
    import json

    from carnet.reimbursements.models import PURPOSE, Reimbursement

    with database.transaction() as session:
        row = Reimbursement(
            id=uuid.uuid4(), holder_id=w.holder_id, line_key=uuid.uuid4().hex,
            care_date=__import__("datetime").date(2026, 1, 5),
            payment_date=__import__("datetime").date(2026, 1, 9),
        )  # fmt: skip
        row.sealed = vault.seal_text(
            session, w.holder_id, row.id, PURPOSE,
            json.dumps({"act_code": "PHA", "act_label": None,
                        "professional_rpps": w.other_pharmacy_rpps,
                        "amount_charged": "10.00", "amount_reimbursed": "6.50"}),
        )  # fmt: skip
        session.add(row)
    ok = client.post(
        "/api/v1/me/conversations",
        headers=w.holder,
        json={"to": [w.other_pharmacy_rpps], "subject": "Question", "body": "Bonjour"},
    )
    assert ok.status_code == 201, ok.text


def test_srv1_replies_are_refused_once_a_professional_ends_the_conversation(
    client: TestClient, database: Database, w: World
) -> None:
    conversation = start(client, w).json()
    cid = conversation["id"]
    assert (
        client.post(f"/api/v1/me/conversations/{cid}/end", headers=w.holder).status_code == 404
    )  # the holder side has no such route: only professionals end conversations
    ended = client.post(f"/api/v1/pro/conversations/{cid}/end", headers=w.gp)
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    before = _count(database, Message)
    refused = client.post(
        f"/api/v1/me/conversations/{cid}/messages", headers=w.holder, json={"body": "Et ensuite ?"}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conversation-ended"
    assert "ended" in refused.json()["error"]["message"]
    assert _count(database, Message) == before
    assert ("message.send-denied", "conversation-ended") in _actions(database, "message.send")


# -- drafts, read receipts, representatives ----------------------------------------------------


def test_srv1_drafts_are_saved_edited_then_sent_and_only_their_author_sees_them(
    client: TestClient, database: Database, w: World
) -> None:
    draft = start(client, w, draft=True, body="Brouillon").json()
    assert draft["status"] == "draft"
    assert client.get("/api/v1/me/conversations", headers=w.holder).json() == []
    message_id = draft["messages"][0]["id"]
    base = f"/api/v1/pro/conversations/{draft['id']}/messages/{message_id}"
    edited = client.patch(base, headers=w.gp, json={"body": "Version finale"})
    assert edited.status_code == 200 and edited.json()["body"] == "Version finale"
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    sent = client.post(f"{base}/send", headers=w.gp)
    assert sent.status_code == 200 and sent.json()["status"] == "sent"
    assert client.patch(base, headers=w.gp, json={"body": "x"}).status_code == 409
    listed = client.get("/api/v1/me/conversations", headers=w.holder).json()
    assert [c["status"] for c in listed] == ["open"]


def test_srv1_read_receipts_per_participant(client: TestClient, w: World) -> None:
    cid = start(client, w, cc=[w.nurse_rpps]).json()["id"]
    first = client.get(f"/api/v1/pro/conversations/{cid}", headers=w.gp).json()["messages"][0]
    assert first["read_by"] == []
    client.get(f"/api/v1/me/conversations/{cid}", headers=w.holder)
    again = client.get(f"/api/v1/pro/conversations/{cid}", headers=w.gp).json()
    readers = [(r["party"], r["read_at"] is not None) for r in again["messages"][0]["read_by"]]
    assert readers == [("holder", True)]
    client.get(f"/api/v1/pro/conversations/{cid}", headers=w.nurse)
    last = client.get(f"/api/v1/pro/conversations/{cid}", headers=w.gp).json()
    assert {r["party"] + (r["rpps"] or "") for r in last["messages"][0]["read_by"]} == {
        "holder",
        "professional" + w.nurse_rpps,
    }


def test_rep4_a_representative_writes_as_such(
    client: TestClient, database: Database, vault: Vault, settings: Settings, w: World
) -> None:
    with database.transaction() as session:
        child = make_holder(session, birth_date=__import__("datetime").date(2016, 5, 1))
        parent = make_holder(session, email="parent@example.org")
        session.add(
            Representation(minor_id=child.id, representative_id=parent.id,
                           representative_nir=parent.nir, role="managing", status="accepted")
        )  # fmt: skip
        from carnet.accounts.models import Professional
        from tests.messaging.support import in_care

        in_care(session, child, session.get(Professional, w.gp_id))
        parent_token = token(session, PrincipalKind.HOLDER, parent.id)
        child_id = child.id
    cid = client.post(
        "/api/v1/pro/conversations",
        headers=w.gp,
        json={"patient_id": str(child_id), "subject": "Vaccin", "body": "Rappel à prévoir"},
    ).json()["id"]
    # The minor's notice goes to the representative (REP-1), without content.
    with database.transaction() as session:
        recipients = session.scalars(
            select(OutboxMessage.recipient).where(OutboxMessage.kind == "message.new")
        ).all()
    assert "parent@example.org" in recipients
    reply = client.post(
        f"/api/v1/me/conversations/{cid}/messages",
        headers={**parent_token, "X-Carnet-Space": str(child_id)},
        json={"body": "Entendu"},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["author_signs_as"] == "representative"
    # Someone who does not manage the space reaches nothing.
    assert (
        client.get(
            f"/api/v1/me/conversations/{cid}",
            headers={**w.holder, "X-Carnet-Space": str(child_id)},
        ).status_code
        == 404
    )


# -- attachments -------------------------------------------------------------------------------


def test_srv1_attachments_from_the_device_and_saving_one_into_documents(
    client: TestClient, database: Database, w: World
) -> None:
    draft = start(client, w, draft=True).json()
    mid = draft["messages"][0]["id"]
    base = f"/api/v1/pro/conversations/{draft['id']}/messages/{mid}"
    attached = client.post(
        f"{base}/attachments",
        headers=w.gp,
        files={"file": ("ordonnance.pdf", pdf_bytes("Ordonnance"), "application/pdf")},
    )
    assert attached.status_code == 201, attached.text
    [item] = attached.json()["attachments"]
    assert (item["name"], item["mime_type"], item["source"]) == (
        "ordonnance.pdf",
        "application/pdf",
        "device",
    )
    # A type the content belies is refused (sniffed, like documents).
    liar = client.post(
        f"{base}/attachments",
        headers=w.gp,
        files={"file": ("x.pdf", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "application/pdf")},
    )
    assert liar.status_code == 400
    assert client.post(f"{base}/send", headers=w.gp).status_code == 200
    cid = draft["id"]
    got = client.get(
        f"/api/v1/me/conversations/{cid}/attachments/{item['id']}/content", headers=w.holder
    )
    assert got.status_code == 200 and got.content.startswith(b"%PDF-")
    documents_before = _count(database, Document)
    saved = client.post(
        f"/api/v1/me/conversations/{cid}/attachments/{item['id']}/save", headers=w.holder
    )
    assert saved.status_code == 201, saved.text
    assert _count(database, Document) == documents_before + 1
    doc = client.get(f"/api/v1/me/documents/{saved.json()['document_id']}", headers=w.holder)
    assert doc.json()["title"] == "ordonnance" and doc.json()["source"] == "holder"
    # Professionals cannot save into the holder's documents.
    assert client.post(
        f"/api/v1/pro/conversations/{cid}/attachments/{item['id']}/save", headers=w.gp
    ).status_code in (404, 405)
    assert any(a == "message.attachment-save" for a, _ in _actions(database, "message"))


def test_srv1_attachment_from_the_holders_documents_checks_the_decision_point(
    client: TestClient, database: Database, vault: Vault, settings: Settings, w: World
) -> None:
    ok = client.post(
        "/api/v1/me/conversations",
        headers=w.holder,
        json={"to": [w.pharmacy_rpps], "subject": "Ordonnance", "body": "Voici",
              "document_ids": [str(w.document_id)]},
    )  # fmt: skip
    assert ok.status_code == 201, ok.text
    [attached] = ok.json()["messages"][0]["attachments"]
    assert attached["source"] == "document"
    # Another space's document is not reachable by id.
    with database.transaction() as session:
        other = make_holder(session)
        from carnet.auth.principal import Principal
        from carnet.documents import deposits

        doc = deposits.deposit(
            session, vault, settings, Principal(PrincipalKind.HOLDER, other.id), other,
            deposits.NewDocument(content=b"note\n", title="n", declared_type="text/plain",
                                  category="AUTR_DOC", source="holder"),
        )  # fmt: skip
    refused = client.post(
        f"/api/v1/me/conversations/{ok.json()['id']}/messages",
        headers=w.holder,
        json={"body": "Et ceci", "document_ids": [str(doc.id)]},
    )
    assert refused.status_code == 404
    assert _count(database, Message) == 1


def test_srv1_oversize_attachment_is_refused_and_nothing_stays(
    client: TestClient, database: Database, vault: Vault, tmp_path: Any, monkeypatch: Any
) -> None:
    from carnet.app import create_app

    monkeypatch.setenv("CARNET_MESSAGE_ATTACHMENT_MAX_BYTES", "2048")
    small = Settings()
    app = create_app(small, database)
    app.state.vault = vault
    w = world(database, vault, small)
    with TestClient(app, raise_server_exceptions=False) as limited:
        draft = start(limited, w, draft=True).json()
        mid = draft["messages"][0]["id"]
        too_big = limited.post(
            f"/api/v1/pro/conversations/{draft['id']}/messages/{mid}/attachments",
            headers=w.gp,
            files={"file": ("big.txt", b"a" * 4096, "text/plain")},
        )
    assert too_big.status_code == 413
    assert (
        "2 KB" in too_big.json()["error"]["message"] or "MB" in too_big.json()["error"]["message"]
    )
    assert _count(database, Attachment) == 0


# -- quota, deletion, notices ------------------------------------------------------------------


def test_srv1_mailbox_quota_says_mailbox_full_and_writes_nothing(
    client: TestClient, database: Database, vault: Vault, settings: Settings, monkeypatch: Any
) -> None:
    from carnet.app import create_app

    monkeypatch.setenv("CARNET_MAILBOX_QUOTA_BYTES", "4096")
    small = Settings()
    app = create_app(small, database)
    app.state.vault = vault
    w = world(database, vault, small)
    with TestClient(app, raise_server_exceptions=False) as limited:
        cid = start(limited, w, body="x" * 3000).json()["id"]
        before = (_count(database, Message), _count(database, OutboxMessage))
        full = limited.post(
            f"/api/v1/me/conversations/{cid}/messages", headers=w.holder, json={"body": "y" * 2000}
        )
        assert full.status_code == 409
        assert full.json()["error"]["code"] == "mailbox-full"
        assert full.json()["error"]["message"].startswith("Mailbox full")
        assert (_count(database, Message), _count(database, OutboxMessage)) == before
        assert ("message.send-denied", "mailbox-full") in _actions(database, "message.send")
        # Deleting the conversation frees the holder's mailbox; the GP still has it.
        assert (
            limited.delete(f"/api/v1/me/conversations/{cid}", headers=w.holder).status_code == 204
        )
        assert limited.get("/api/v1/me/conversations", headers=w.holder).json() == []
        assert [c["id"] for c in limited.get("/api/v1/pro/conversations", headers=w.gp).json()] == [
            cid
        ]


def test_srv1_a_deleted_conversation_comes_back_with_new_messages_only(
    client: TestClient, w: World
) -> None:
    cid = start(client, w, body="Ancien").json()["id"]
    assert client.delete(f"/api/v1/me/conversations/{cid}", headers=w.holder).status_code == 204
    assert client.get(f"/api/v1/me/conversations/{cid}", headers=w.holder).json()["messages"] == []
    client.post(f"/api/v1/pro/conversations/{cid}/messages", headers=w.gp, json={"body": "Neuf"})
    listed = client.get("/api/v1/me/conversations", headers=w.holder).json()
    assert [c["id"] for c in listed] == [cid]
    bodies = [
        m["body"]
        for m in client.get(f"/api/v1/me/conversations/{cid}", headers=w.holder).json()["messages"]
    ]
    assert bodies == ["Neuf"]


def test_srv1_notices_say_a_message_is_there_never_what_it_says(
    client: TestClient, database: Database, w: World
) -> None:
    cid = start(client, w, subject="Résultat de biopsie", body="Le diagnostic est posé").json()[
        "id"
    ]
    client.post(
        f"/api/v1/me/conversations/{cid}/messages", headers=w.holder, json={"body": "Inquiet"}
    )
    with database.transaction() as session:
        mails = session.execute(
            select(OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body_text).where(
                OutboxMessage.kind == "message.new"
            )
        ).all()
    assert {m.recipient for m in mails} == {"camille@example.org", "gp@example.org"}
    for mail in mails:
        text = f"{mail.subject}\n{mail.body_text}".lower()
        for secret in ("biopsie", "diagnostic", "inquiet", "résultat"):
            assert secret not in text


def test_srv1_message_contents_are_sealed_in_the_database(
    database: Database, client: TestClient, w: World
) -> None:
    start(client, w, subject="Zqxjsubject", body="Zqxjbody")
    with database.transaction() as session:
        conversation = session.scalars(select(Conversation)).one()
        message = session.scalars(select(Message)).one()
        assert b"Zqxj" not in conversation.subject_sealed
        assert b"Zqxj" not in message.body_sealed
        assert session.get(Holder, w.holder_id) is not None
