"""Messagerie on the professional side of the portal (SRV-1, ID-3): a professional writes from the
patient's page, the holder answers on their own page, the professional reads, replies and ends the
conversation, after which the holder's replies are refused; refused starts write nothing."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder, Professional
from carnet.audit.models import AuditEntry
from carnet.db import Database
from carnet.messaging.models import Conversation, Message
from tests.portal.support import csrf_of, log_in, make_account
from tests.portal.test_pro_pages import make_pro, pro_log_in, send

_CONVERSATION = re.compile(r"/pro/messages/([0-9a-f-]{36})$")


def _in_care(
    database: Database, holder: Holder, pro: Professional, status: str = "authorised"
) -> None:
    with database.transaction() as session:
        session.add(CareRelationship(holder_id=holder.id, professional_id=pro.id, status=status))


def _open_patient(
    client: TestClient, database: Database, pro: Professional, holder: Holder
) -> None:
    pro_log_in(client, database, pro)
    found = send(client, "/pro/find", {"nir": holder.nir})
    assert found.headers["location"] == "/pro/patient"


def _count(database: Database, model: Any) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_conversation_from_the_patient_page_to_its_end(
    client: TestClient, app: FastAPI, database: Database
) -> None:
    """SRV-1: started by the professional, answered by the holder, ended by the professional."""
    holder = make_account(database)
    pro = make_pro(database, name="Dr Martin")
    _in_care(database, holder, pro)
    _open_patient(client, database, pro, holder)
    patient_page = client.get("/pro/patient")
    assert "Écrire au patient" in html.unescape(patient_page.text)
    assert 'href="/pro/messages"' in patient_page.text  # the professional navigation
    started = client.post(
        "/pro/patient/message",
        data={
            "csrf_token": csrf_of(patient_page.text),
            "subject": "Vos résultats",
            "message": "Bonjour, tout est normal.",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    match = _CONVERSATION.search(started.headers["location"])
    assert match is not None
    path = match.group(0)

    # The holder sees it on their own page and answers.
    with TestClient(app, raise_server_exceptions=False) as patient:
        log_in(patient, database)
        inbox = html.unescape(patient.get("/messages").text)
        assert "Vos résultats" in inbox and "Dr Martin" in inbox
        conversation = patient.get(f"/messages/{match.group(1)}")
        assert "Bonjour, tout est normal." in html.unescape(conversation.text)
        answered = patient.post(
            f"/messages/{match.group(1)}/reply",
            data={"csrf_token": csrf_of(conversation.text), "body": "Merci docteur."},
            follow_redirects=False,
        )
        assert answered.status_code == 303, answered.text

        # The professional's list shows the patient and the unread reply.
        listed = html.unescape(client.get("/pro/messages").text)
        assert "Vos résultats" in listed and "Marie Anne DUPONT" in listed
        assert "(1 non lu)" in listed
        page = client.get(path)
        assert "Merci docteur." in html.unescape(page.text)
        assert "non lu" not in html.unescape(client.get("/pro/messages").text)  # read now

        replied = client.post(
            f"{path}/reply",
            data={"csrf_token": csrf_of(page.text), "body": "Revenez dans trois mois."},
            follow_redirects=False,
        )
        assert replied.status_code == 303
        assert "Revenez dans trois mois." in html.unescape(client.get(path).text)

        # Ending needs the confirmation box.
        unconfirmed = client.post(f"{path}/end", data={"csrf_token": csrf_of(page.text)})
        assert unconfirmed.status_code == 400
        assert "Cochez la case" in html.unescape(unconfirmed.text)
        ended = client.post(
            f"{path}/end",
            data={"csrf_token": csrf_of(page.text), "confirm": "1"},
            follow_redirects=False,
        )
        assert ended.status_code == 303
        closed = html.unescape(client.get(path).text)
        assert "le patient ne peut plus répondre" in closed
        assert f'action="{path}/reply"' not in closed

        # SRV-1: a later reply of the holder is refused with a readable message.
        late = patient.post(
            f"/messages/{match.group(1)}/reply",
            data={"csrf_token": csrf_of(conversation.text), "body": "Encore une question."},
        )
        assert late.status_code == 409
        assert "il n'est plus possible d'y répondre" in html.unescape(late.text)
    with database.transaction() as session:
        bodies = session.scalars(select(Message.id)).all()
    assert len(bodies) == 3  # the first message, the holder's reply, the professional's reply


def test_forms_need_their_csrf_token(client: TestClient, database: Database) -> None:
    pro = make_pro(database)
    pro_log_in(client, database, pro)
    for path in (
        "/pro/patient/message",
        "/pro/messages/00000000-0000-0000-0000-000000000000/reply",
        "/pro/messages/00000000-0000-0000-0000-000000000000/end",
    ):
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 403, path
    assert "Aucune conversation" in html.unescape(client.get("/pro/messages").text)


def test_refused_starts_show_why_and_write_nothing(client: TestClient, database: Database) -> None:
    """ID-3: no message to an unqualified INS; SRV-1: only the care team, never once blocked."""
    unqualified = make_account(database, "paul", ins_qualified=False)
    stranger = make_account(database, "lea")
    blocking = make_account(database, "jean")
    pro = make_pro(database)
    _in_care(database, unqualified, pro)
    _in_care(database, blocking, pro, status="blocked")
    expected = {
        unqualified: "L'identité (INS) de ce patient n'est pas qualifiée",
        stranger: "équipe de soins",
        blocking: "équipe de soins",  # ACC-3: told as outside the care team, never "blocked"
    }
    pro_log_in(client, database, pro)
    for holder, message in expected.items():
        assert send(client, "/pro/find", {"nir": holder.nir}).status_code == 303
        page = client.get("/pro/patient")
        refused = client.post(
            "/pro/patient/message",
            data={"csrf_token": csrf_of(page.text), "subject": "Rappel", "message": "Bonjour"},
        )
        assert refused.status_code in (400, 403), refused.text
        body = html.unescape(refused.text)
        assert message in body, holder.username
        assert 'value="Rappel"' in body  # what was typed is kept
    assert _count(database, Conversation) == 0 and _count(database, Message) == 0
    with database.transaction() as session:
        denied = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "message.send-denied")
        ).all()
    assert sorted(denied) == ["blocked", "ins-not-qualified", "not-in-care-team"]  # ACC-8
