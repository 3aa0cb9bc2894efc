"""The holder's access history, reports and first-access e-mails (rules ACC-8, ACC-5, REP-2, REP-4,
DOC-4)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.access.models import AccessReport, CareRelationship
from carnet.accounts.models import Holder
from carnet.audit.service import append
from carnet.auth.principal import PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.access.test_care_api import (
    API,
    audit,
    can_get,
    declare,
    documents,
    error_code,
    new_pro,
    new_space,
    put_pro,
    readable,
)
from tests.access.test_emergency import REASON, break_glass
from tests.documents.samples import deposit, family, headers_for


def history(
    client: TestClient, headers: dict[str, str], status: int = 200, **params: Any
) -> dict[str, Any]:
    response = client.get(f"{API}/me/access-history", params=params, headers=headers)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def first_access_mails(database: Database) -> list[OutboxMessage]:
    with database.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "access.first")
        ).all()
        session.expunge_all()
        return list(rows)


def test_acc8_the_history_lists_every_access_newest_first_with_codes_only(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database, first_names="Anne")
    docs = documents(database, vault, settings, space.id)
    physician = new_pro(database, name="Dr Martin")
    emergency = new_pro(database, name="Dr Urgence", profession_code="60")
    assert declare(client, physician, space.nir).status_code == 202
    assert can_get(database, settings, physician, docs.general)
    assert break_glass(client, emergency, space.nir, REASON).status_code == 201
    assert readable(database, settings, emergency, space.id)
    assert put_pro(client, space.headers, physician.rpps, administrator=True).status_code == 200

    response = client.get(f"{API}/me/access-history", headers=space.headers)
    assert response.status_code == 200
    assert REASON not in response.text and "inconscient" not in response.text
    body = response.json()
    entries = body["entries"]
    assert body["total"] == len(entries) and body["page"] == 1 and body["per_page"] == 100
    stamps = [e["at"] for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    assert entries[0]["action"] == "care.administrator"
    assert entries[0]["actor"] == {"kind": "holder", "display": "vous", "rpps": None}
    assert entries[0]["target_type"] == "Professional"
    assert entries[0]["target_id"] == physician.rpps

    by_action = {e["action"]: e for e in entries}
    opened = by_action["emergency.open"]
    assert (opened["mode"], opened["reason"]) == ("emergency", "110127")
    assert opened["actor"] == {
        "kind": "professional",
        "display": "Dr Urgence (Infirmier)",
        "rpps": emergency.rpps,
    }
    read = by_action["document.read-metadata"]
    assert (read["target_id"], read["mode"]) == (docs.general, "normal")
    assert read["actor"]["display"] == "Dr Martin (Médecin)"
    assert by_action["document.search"]["mode"] == "emergency"
    assert set(entries[0]) == {
        "id",
        "at",
        "action",
        "mode",
        "actor",
        "target_type",
        "target_id",
        "reason",
        "reported",
    }  # never the sealed detail
    # The holder's own look is not recorded (it would only grow the log they read).
    assert audit(database, space.id, "access-history.read") == []
    # Another holder sees none of it.
    stranger = new_space(database)
    assert history(client, stranger.headers)["total"] == 0


def test_acc8_filters_by_mode_actor_and_europe_paris_days(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    physician = new_pro(database)
    emergency = new_pro(database)
    # 23:30 UTC on 9 March is 00:30 on 10 March in Paris.
    with clock.frozen_at(dt.datetime(2026, 3, 9, 23, 30, tzinfo=dt.UTC)):
        assert declare(client, physician, space.nir).status_code == 202
    with clock.frozen_at(dt.datetime(2026, 3, 12, 9, 0, tzinfo=dt.UTC)):
        assert break_glass(client, emergency, space.nir, REASON).status_code == 201
        assert can_get(database, settings, emergency, docs.psy)

    urgent = history(client, space.headers, mode="emergency")["entries"]
    assert [e["action"] for e in urgent] == ["document.read-metadata", "emergency.open"]
    assert {e["actor"]["rpps"] for e in urgent} == {emergency.rpps}

    mine = history(client, space.headers, actor=physician.rpps)["entries"]
    assert [e["action"] for e in mine] == ["care.declare"]
    assert history(client, space.headers, actor="00999999998")["total"] == 0  # nobody
    holder_side = history(client, space.headers, actor="holder")["entries"]
    assert holder_side == []  # the holder did nothing here but look
    assert {e["actor"]["kind"] for e in history(client, space.headers)["entries"]} >= {
        "professional"
    }

    tenth = history(client, space.headers, **{"from": "2026-03-10", "to": "2026-03-10"})
    assert [e["action"] for e in tenth["entries"]] == ["care.declare"]
    ninth = history(client, space.headers, **{"from": "2026-03-09", "to": "2026-03-09"})
    assert ninth["total"] == 0
    since_11 = history(client, space.headers, **{"from": "2026-03-11", "to": "2026-03-12"})
    assert {e["mode"] for e in since_11["entries"]} == {"emergency"}
    combined = history(
        client, space.headers, mode="normal", actor=physician.rpps, **{"to": "2026-03-11"}
    )
    assert combined["total"] == 1

    bad = [
        {"mode": "sideways"},
        {"from": "10/03/2026"},
        {"from": "2026-02-30"},
        {"from": "2026-03-12", "to": "2026-03-10"},
        {"actor": "123"},
        {"page": "0"},
    ]
    for params in bad:
        response = client.get(f"{API}/me/access-history", params=params, headers=space.headers)
        assert error_code(response, 400) == "invalid-input", params


def test_acc8_pages_of_100_newest_first_with_links(client: TestClient, database: Database) -> None:
    space = new_space(database)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with database.transaction() as session:
        for n in range(230):
            with clock.frozen_at(start + dt.timedelta(minutes=n)):
                append(
                    session,
                    actor_kind="system",
                    actor_id=str(uuid.UUID(int=0)),
                    action="test.tick",
                    holder_id=space.id,
                    target_type="Tick",
                    target_id=str(n),
                    mode="system",
                )
    first = history(client, space.headers)
    assert (first["total"], first["pages"], len(first["entries"])) == (230, 3, 100)
    assert first["entries"][0]["target_id"] == "229"
    assert first["entries"][0]["actor"]["display"] == "Carnet"
    assert first["links"]["prev"] is None and first["links"]["first"].endswith("page=1")
    follow = urlsplit(first["links"]["next"])
    assert follow.path == f"{API}/me/access-history"
    second = history(client, space.headers, **dict(parse_qsl(follow.query)))
    assert second["page"] == 2 and second["entries"][0]["target_id"] == "129"
    third = history(client, space.headers, page=3)
    assert [e["target_id"] for e in third["entries"]][-1] == "0"
    assert len(third["entries"]) == 30 and third["links"]["next"] is None
    assert history(client, space.headers, page=4)["entries"] == []
    # Filters are kept in the links.
    filtered = history(client, space.headers, actor="holder", page=1)
    assert filtered["total"] == 0 and filtered["pages"] == 1
    kept = history(client, space.headers, **{"from": "2026-01-01"})
    assert dict(parse_qsl(urlsplit(kept["links"]["next"]).query)) == {
        "from": "2026-01-01",
        "page": "2",
    }


def report(
    client: TestClient, headers: dict[str, str], entry_id: str, note: str | None = None
) -> httpx.Response:
    body = {"note": note} if note is not None else {}
    response: httpx.Response = client.post(
        f"{API}/me/access-history/{entry_id}/report", json=body, headers=headers
    )
    return response


def test_acc8_the_holder_reports_a_suspicious_access(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    other = new_space(database)
    docs = documents(database, vault, settings, space.id)
    physician = new_pro(database)
    assert declare(client, physician, space.nir).status_code == 202
    assert can_get(database, settings, physician, docs.general)
    entry = next(
        e
        for e in history(client, space.headers)["entries"]
        if e["action"] == "document.read-metadata"
    )
    note = "Je ne connais pas ce médecin"
    response = report(client, space.headers, entry["id"], note)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["entry_id"], created["status"]) == (entry["id"], "open")
    with database.transaction() as session:
        row = session.get(AccessReport, uuid.UUID(created["id"]))
        assert row is not None and row.holder_id == space.id
        assert row.note_sealed is not None and note.encode() not in row.note_sealed
        assert (
            vault.unseal_text(session, space.id, row.id, "access-report-note", row.note_sealed)
            == note
        )
    (recorded,) = audit(database, space.id, "access.report")
    assert (recorded.target_type, recorded.target_id) == ("AuditEntry", entry["id"])
    assert recorded.reason == "document.read-metadata"
    again = history(client, space.headers)["entries"]
    assert next(e for e in again if e["id"] == entry["id"])["reported"] is True
    # A note is optional; an entry of another space, or none, is 404.
    assert report(client, space.headers, entry["id"]).status_code == 201
    assert report(client, other.headers, entry["id"]).status_code == 404
    assert report(client, space.headers, str(uuid.uuid4())).status_code == 404
    assert report(client, space.headers, entry["id"], "x" * 2001).status_code == 400


def test_acc8_first_access_email_once_per_professional(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database, email="titulaire@example.org")
    docs = documents(database, vault, settings, space.id)
    physician = new_pro(database, name="Dr Secret")
    nurse = new_pro(database, profession_code="60")
    assert declare(client, physician, space.nir).status_code == 202
    assert first_access_mails(database) == []  # a declaration is not a read

    assert readable(database, settings, physician, space.id)
    mails = first_access_mails(database)
    assert [m.recipient for m in mails] == ["titulaire@example.org"]
    assert "Dr Secret" not in mails[0].body_text and "CR" not in mails[0].body_text
    assert can_get(database, settings, physician, docs.general)
    assert readable(database, settings, physician, space.id)
    assert len(first_access_mails(database)) == 1  # once
    with database.transaction() as session:
        rel = session.scalars(
            select(CareRelationship).where(CareRelationship.professional_id == physician.id)
        ).one()
        assert rel.first_access_notified_at is not None

    # A refused read tells nothing; the first allowed one (a get) does.
    assert not can_get(database, settings, nurse, docs.general)
    assert declare(client, nurse, space.nir).status_code == 202
    assert can_get(database, settings, nurse, docs.general)
    assert len(first_access_mails(database)) == 2

    # Emergency readers are told through the grant's e-mail; authors without a relationship
    # reading their own deposit are not tracked.
    emergency = new_pro(database)
    assert break_glass(client, emergency, space.nir, REASON).status_code == 201
    assert readable(database, settings, emergency, space.id)
    author = new_pro(database)
    own = deposit(database, vault, settings, space.id, author=author.principal)
    assert can_get(database, settings, author, own.id)
    assert len(first_access_mails(database)) == 2


def test_rep2_rep4_representatives_and_caregivers_read_the_history_without_secrets(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    people = family(database)
    with database.transaction() as session:
        child = session.get(Holder, people.child.id)
        helped = session.get(Holder, people.helped.id)
        assert child is not None and helped is not None
        child_nir, helped_nir = child.nir, helped.nir
    physician = new_pro(database)
    assert declare(client, physician, child_nir).status_code == 202
    visible = deposit(database, vault, settings, people.child.id, author=physician.principal)
    secret = deposit(
        database,
        vault,
        settings,
        people.child.id,
        author=physician.principal,
        invisible_to_representatives=True,
    )
    assert can_get(database, settings, physician, visible.id)
    assert can_get(database, settings, physician, secret.id)
    assert len(readable(database, settings, physician, people.child.id)) == 2

    parent = headers_for(database, people.parent.id, space=people.child.id)
    seen = history(client, parent)
    targets = {e["target_id"] for e in seen["entries"]}
    assert str(visible.id) in targets
    assert str(secret.id) not in targets  # REP-2: not even that it exists
    assert str(secret.id) not in json.dumps(seen)
    searched = next(e for e in seen["entries"] if e["action"] == "document.search")
    assert searched["target_id"] is None  # "2/2" would count the secret document
    (looked,) = audit(database, people.child.id, "access-history.read")
    assert (looked.actor_id, looked.mode) == (str(people.parent.id), "representative")
    # The minor's own history has both.
    own = history(client, headers_for(database, people.child.id))
    assert str(secret.id) in {e["target_id"] for e in own["entries"]}
    assert "2/2" in {e["target_id"] for e in own["entries"]}
    hidden_entry = next(e for e in own["entries"] if e["target_id"] == str(secret.id))
    # … and a representative cannot report what they cannot see.
    assert report(client, parent, hidden_entry["id"]).status_code == 404
    assert (
        report(client, headers_for(database, people.child.id), hidden_entry["id"]).status_code
        == 201
    )

    # REP-4: a caregiver reads the history of the person they help; the read is recorded.
    assert declare(client, physician, helped_nir).status_code == 202
    caregiver = headers_for(database, people.caregiver.id, space=people.helped.id)
    entries = history(client, caregiver)["entries"]
    assert [e["action"] for e in entries] == ["care.declare"]
    assert audit(database, people.helped.id, "access-history.read")[0].mode == "caregiver"
    # The caregiver's look is the next entry, shown with their first name to the holder.
    mine = history(client, headers_for(database, people.helped.id))["entries"]
    assert mine[0]["action"] == "access-history.read"
    assert mine[0]["actor"] == {"kind": "holder", "display": "Bruno", "rpps": None}
    # Someone else's space is 404 (nothing tells whether it exists).
    assert (
        client.get(
            f"{API}/me/access-history",
            headers=headers_for(database, people.caregiver.id, space=people.child.id),
        ).status_code
        == 404
    )
    assert client.get(f"{API}/me/access-history", headers=physician.headers).status_code == 403


def test_doc4_entries_of_a_document_awaiting_its_announcement_are_not_shown(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    author = new_pro(database)
    waiting = deposit(
        database, vault, settings, space.id, author=author.principal, invisible_to_patient=True
    )
    shown = history(client, space.headers)
    assert str(waiting.id) not in json.dumps(shown)
    later = waiting.deposited_at + dt.timedelta(days=32)
    with clock.frozen_at(later):
        released = history(client, space.headers)
    assert str(waiting.id) in {e["target_id"] for e in released["entries"]}


def test_acc8_regulation_entries_are_found_by_mode(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    documents(database, vault, settings, space.id)
    regulator = new_pro(database, kind=PrincipalKind.REGULATOR, name="Dr Samu")
    assert break_glass(client, regulator, space.nir, "Appel au 15").status_code == 201
    assert readable(database, settings, regulator, space.id)
    found = history(client, space.headers, mode="regulation")["entries"]
    assert [e["action"] for e in found] == ["document.search", "emergency.open"]
    assert found[0]["actor"]["kind"] == "regulator"
    assert found[0]["actor"]["display"] == "Dr Samu (Médecin)"
    assert history(client, space.headers, actor=regulator.rpps)["total"] == 2
