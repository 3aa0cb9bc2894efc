"""FHIR R4 `Communication` for professionals' software: read, search by patient, create = send a
message (SRV-1, ID-3, ACC-8). Every answer is validated against the official R4 JSON schema."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.accounts.rules import INS_NIR_SYSTEM, RPPS_SYSTEM
from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from carnet.messaging.models import Message
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.fhir.support import fhir_json, outcome
from tests.messaging.support import World, start, world

FHIR = "application/fhir+json"


@pytest.fixture
def w(database: Database, vault: Vault, settings: Settings) -> World:
    return world(database, vault, settings)


def _new(w: World, nir: str | None = None, **extra: object) -> dict[str, object]:
    subject = (
        {"identifier": {"system": INS_NIR_SYSTEM, "value": nir}}
        if nir
        else {"reference": f"Patient/{w.holder_id}"}
    )
    resource: dict[str, object] = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": subject,
        "topic": {"text": "Compte rendu"},
        "recipient": [
            {"reference": f"Patient/{w.holder_id}"},
            {"identifier": {"system": RPPS_SYSTEM, "value": w.nurse_rpps}},
        ],
        "payload": [
            {"contentString": "Voici le compte rendu."},
            {
                "contentAttachment": {
                    "contentType": "application/pdf",
                    "title": "cr.pdf",
                    "data": base64.b64encode(pdf_bytes("CR")).decode(),
                }
            },
        ],
    }
    resource.update(extra)
    return resource


def test_srv1_create_read_and_search_communications(
    client: TestClient, database: Database, w: World
) -> None:
    created = client.post(
        "/fhir/Communication", headers={**w.gp, "Content-Type": FHIR}, json=_new(w)
    )
    sent = fhir_json(created, 201)
    assert created.headers["location"].endswith(f"/fhir/Communication/{sent['id']}")
    assert sent["subject"] == {"reference": f"Patient/{w.holder_id}"}
    assert sent["sender"]["identifier"] == {"system": RPPS_SYSTEM, "value": w.gp_rpps}
    assert {r.get("identifier", {}).get("value") for r in sent["recipient"]} >= {w.nurse_rpps}
    assert sent["payload"][1]["contentAttachment"]["contentType"] == "application/pdf"
    # The holder replies in the JSON API; the reply is a Communication in response to the first.
    cid = sent["identifier"][0]["value"]
    client.post(f"/api/v1/me/conversations/{cid}/messages", headers=w.holder, json={"body": "Ok"})
    found = fhir_json(
        client.get("/fhir/Communication", params={"patient": w.holder_id}, headers=w.nurse)
    )
    assert found["total"] == 2
    reply = found["entry"][1]["resource"]
    assert reply["inResponseTo"] == [{"reference": f"Communication/{sent['id']}"}]
    assert reply["sender"]["reference"] == f"Patient/{w.holder_id}"
    read = fhir_json(client.get(f"/fhir/Communication/{sent['id']}", headers=w.holder))
    assert read["payload"][0]["contentString"] == "Voici le compte rendu."
    # Someone outside the conversation finds nothing, and that is recorded (ACC-8).
    outcome(client.get(f"/fhir/Communication/{sent['id']}", headers=w.stranger), 404)
    empty = fhir_json(
        client.get("/fhir/Communication", params={"patient": w.holder_id}, headers=w.stranger)
    )
    assert empty["total"] == 0
    with database.transaction() as session:
        denied = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "message.read-denied")
        )
    assert denied == 1


def test_id3_and_srv1_refusals_are_operation_outcomes(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    w = world(database, vault, settings, ins_qualified=False)
    refused = client.post(
        "/fhir/Communication", headers={**w.gp, "Content-Type": FHIR}, json=_new(w)
    )
    issues = outcome(refused, 400)
    assert "ID-3" in issues[0]["details"]["text"]
    assert issues[0]["details"]["coding"][0]["code"] == "ins-not-qualified"
    outcome(
        client.post("/fhir/Communication", headers={**w.holder, "Content-Type": FHIR},
                    json=_new(w)),
        403,
    )  # fmt: skip
    outcome(
        client.post("/fhir/Communication", headers={**w.gp, "Content-Type": FHIR},
                    json=_new(w, payload=[{"contentReference": {"reference": "x"}}])),
        400,
    )  # fmt: skip
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_srv1_a_reply_to_an_ended_conversation_is_refused_in_fhir_too(
    client: TestClient, database: Database, w: World
) -> None:
    cid = start(client, w).json()["id"]
    first = client.get(f"/api/v1/pro/conversations/{cid}", headers=w.gp).json()["messages"][0]
    client.post(f"/api/v1/pro/conversations/{cid}/end", headers=w.gp)
    refused = client.post(
        "/fhir/Communication",
        headers={**w.gp, "Content-Type": FHIR},
        json={
            "resourceType": "Communication",
            "status": "completed",
            "inResponseTo": [{"reference": f"Communication/{first['id']}"}],
            "payload": [{"contentString": "Encore"}],
        },
    )
    outcome(refused, 409)


def test_srv1_drafts_are_their_authors_only_in_fhir_as_preparation(
    client: TestClient, w: World
) -> None:
    """A draft is shown to its author (as the JSON API does) with status `preparation` and no
    `sent`; the other parties never meet it, by id or by search (SRV-1, SRV-5 `$everything`)."""
    cid = start(client, w).json()["id"]
    draft = client.post(f"/api/v1/me/conversations/{cid}/messages", headers=w.holder,
                        json={"body": "Pas encore envoyé", "draft": True})  # fmt: skip
    assert draft.status_code == 201, draft.text
    draft_id = draft.json()["id"]
    mine = fhir_json(client.get(f"/fhir/Communication/{draft_id}", headers=w.holder))
    assert mine["status"] == "preparation" and "sent" not in mine
    first = fhir_json(
        client.get("/fhir/Communication", params={"patient": w.holder_id}, headers=w.holder)
    )["entry"][0]["resource"]
    assert first["status"] == "completed"
    assert mine["inResponseTo"] == [{"reference": f"Communication/{first['id']}"}]
    outcome(client.get(f"/fhir/Communication/{draft_id}", headers=w.gp), 404)
    seen = fhir_json(
        client.get("/fhir/Communication", params={"patient": w.holder_id}, headers=w.gp)
    )
    assert [e["resource"]["status"] for e in seen["entry"]] == ["completed"]


def test_srv1_communication_search_pages_with_the_real_total(
    client: TestClient, database: Database, w: World
) -> None:
    sent = fhir_json(
        client.post("/fhir/Communication", headers={**w.gp, "Content-Type": FHIR}, json=_new(w)),
        201,
    )
    cid = sent["identifier"][0]["value"]
    for text in ("Merci", "À bientôt"):
        reply = client.post(
            f"/api/v1/me/conversations/{cid}/messages", headers=w.holder, json={"body": text}
        )
        assert reply.status_code < 300, reply.text
    page = fhir_json(
        client.get(
            "/fhir/Communication", params={"patient": w.holder_id, "_count": "2"}, headers=w.gp
        )
    )
    assert page["total"] == 3 and len(page["entry"]) == 2
    assert any(link["relation"] == "next" for link in page["link"])
    last = fhir_json(
        client.get(
            "/fhir/Communication",
            params={"patient": w.holder_id, "_count": "2", "_offset": "2"},
            headers=w.gp,
        )
    )
    assert len(last["entry"]) == 1
    assert last["entry"][0]["resource"]["id"] not in {e["resource"]["id"] for e in page["entry"]}
