"""Emergency access and regulation, and the holder's three switches (rules ACC-5, ACC-6, DOC-3,
ACC-8, REP-4).

Reads under a grant go through the decision point in emergency or regulation mode; they are checked
through `documents.service` (search and get) and in the audit log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.access.models import EmergencyGrant
from carnet.accounts.models import Holder
from carnet.auth.principal import PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.access.test_care_api import (
    API,
    UNKNOWN_NIR,
    Pro,
    answer_gp,
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
from tests.documents.samples import family, headers_for

REASON = "Patient inconscient aux urgences, suspicion d'AVC"


def break_glass(client: TestClient, who: Pro, nir: str, reason: str | None) -> httpx.Response:
    body: dict[str, Any] = {"nir": nir}
    if reason is not None:
        body["reason"] = reason
    response: httpx.Response = client.post(
        f"{API}/pro/emergency-access", json=body, headers=who.headers
    )
    return response


def switches(client: TestClient, headers: dict[str, str], **body: bool) -> httpx.Response:
    response: httpx.Response = client.put(
        f"{API}/me/emergency-settings", json=body, headers=headers
    )
    return response


def outbox(database: Database) -> list[OutboxMessage]:
    with database.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()
        session.expunge_all()
        return list(rows)


def grants(database: Database) -> list[EmergencyGrant]:
    with database.transaction() as session:
        rows = session.scalars(select(EmergencyGrant)).all()
        session.expunge_all()
        return list(rows)


def test_acc5_an_emergency_access_needs_a_reason_and_the_refusal_is_recorded(
    client: TestClient, database: Database
) -> None:
    space = new_space(database)
    emergency = new_pro(database)
    for reason in (None, "", "   "):
        response = break_glass(client, emergency, space.nir, reason)
        assert error_code(response, 400) == "reason-required"
    denied = audit(database, space.id, "emergency.open-denied")
    assert [(e.reason, e.mode) for e in denied] == [("reason-required", "emergency")] * 3
    assert grants(database) == []
    too_long = break_glass(client, emergency, space.nir, "x" * 1001)
    assert too_long.status_code == 400
    assert error_code(break_glass(client, emergency, UNKNOWN_NIR, REASON), 404) == "unknown-patient"
    closed = new_space(database, state="closed")
    assert error_code(break_glass(client, emergency, closed.nir, REASON), 409) == "space-not-open"
    # A holder cannot break the glass.
    holder_as_pro = Pro(space.id, "", space.headers)
    assert break_glass(client, holder_as_pro, space.nir, REASON).status_code == 403


def test_acc5_acc6_break_the_glass_reads_in_emergency_mode_and_tells_holder_and_gp(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database, email="titulaire@example.org")
    docs = documents(database, vault, settings, space.id)
    gp = new_pro(database, email="gp@example.org")
    assert declare(client, gp, space.nir, as_gp=True).status_code == 202
    assert answer_gp(client, space.headers, gp.rpps).status_code == 200
    emergency = new_pro(database, email="urgentiste@example.org")
    assert readable(database, settings, emergency, space.id) == set()
    mails_before = len(outbox(database))

    moment = dt.datetime(2026, 3, 10, 13, 5, tzinfo=dt.UTC)
    with clock.frozen_at(moment):
        response = break_glass(client, emergency, space.nir, REASON)
        assert response.status_code == 201, response.text
        assert response.json() == {"mode": "emergency", "expires_at": "2026-03-11T01:05:00Z"}
        # ACC-5: the grant opens reads; DOC-3: not masked ones (third switch off by default).
        assert readable(database, settings, emergency, space.id) == {docs.general, docs.psy}
        assert can_get(database, settings, emergency, docs.psy)
        assert not can_get(database, settings, emergency, docs.masked)

    opened = audit(database, space.id, "emergency.open")
    assert len(opened) == 1
    entry = opened[0]
    assert (entry.actor_id, entry.mode, entry.reason) == (str(emergency.id), "emergency", "110127")
    assert entry.detail is not None and REASON.encode() not in entry.detail
    (grant,) = grants(database)
    assert entry.target_id == str(grant.id) and entry.detail == grant.reason_sealed
    with database.transaction() as session:
        assert (
            vault.unseal_text(session, space.id, grant.id, "emergency-reason", entry.detail)
            == REASON
        )
    # ACC-8: the reads under the grant are recorded in emergency mode (the search before it was
    # a normal one, which found nothing).
    searches = [(e.mode, e.target_id) for e in audit(database, space.id, "document.search")]
    assert searches == [("normal", "0/0"), ("emergency", "2/2")]
    reads = [(e.mode, e.reason) for e in audit(database, space.id, "document.read-metadata")]
    assert reads == [("emergency", "emergency")]

    # ACC-6: the holder and their GP are told, without the reason nor any health content.
    mails = [m for m in outbox(database) if m.kind.startswith("access.emergency")]
    assert len(outbox(database)) == mails_before + 2
    assert sorted((m.kind, m.recipient) for m in mails) == [
        ("access.emergency", "titulaire@example.org"),
        ("access.emergency-gp", "gp@example.org"),
    ]
    for mail in mails:
        text = mail.subject + mail.body_text
        assert "inconscient" not in text and "AVC" not in text
        assert "CR biologie" not in text and "Synthèse" not in text
        assert "le 10/03/2026 à 14:05" in text  # Europe/Paris
        assert "urgentiste" not in text
    # No first-access e-mail for an emergency reader: the grant's e-mail covers it (ACC-8).
    assert not [m for m in outbox(database) if m.kind == "access.first"]


def test_acc5_the_grant_expires_after_12_hours(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    emergency = new_pro(database)
    start = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
    with clock.frozen_at(start):
        assert break_glass(client, emergency, space.nir, REASON).status_code == 201
    with clock.frozen_at(start + dt.timedelta(hours=11, minutes=59)):
        assert can_get(database, settings, emergency, docs.general)
    with clock.frozen_at(start + dt.timedelta(hours=12)):
        assert not can_get(database, settings, emergency, docs.general)
        assert readable(database, settings, emergency, space.id) == set()


def test_acc6_opposed_emergency_is_refused_and_the_switches_are_independent(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    emergency = new_pro(database)
    regulator = new_pro(database, kind=PrincipalKind.REGULATOR)

    got = client.get(f"{API}/me/emergency-settings", headers=space.headers)
    assert got.json() == {"regulator": True, "emergency": True, "masked_in_emergency": False}
    changed = switches(client, space.headers, emergency=False)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"regulator": True, "emergency": False, "masked_in_emergency": False}
    (setting,) = audit(database, space.id, "access.settings")
    assert setting.reason == "regulator=1,emergency=0,masked_in_emergency=0"

    refused = break_glass(client, emergency, space.nir, REASON)
    assert error_code(refused, 403) == "emergency-opposed"
    assert [e.reason for e in audit(database, space.id, "emergency.open-denied")] == [
        "emergency-opposed"
    ]
    assert readable(database, settings, emergency, space.id) == set()
    # The regulator's switch is independent (ACC-6).
    assert break_glass(client, regulator, space.nir, REASON).status_code == 201
    assert can_get(database, settings, regulator, docs.general)

    # An opposition made after the grant also stops it (the decision is taken at each read).
    late = new_pro(database)
    assert switches(client, space.headers, emergency=True).status_code == 200
    assert break_glass(client, late, space.nir, REASON).status_code == 201
    assert can_get(database, settings, late, docs.general)
    assert switches(client, space.headers, emergency=False).status_code == 200
    assert not can_get(database, settings, late, docs.general)
    assert len(grants(database)) == 2


def test_acc5_regulator_reads_in_regulation_mode_unless_opposed(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database, email="titulaire@example.org")
    docs = documents(database, vault, settings, space.id)
    regulator = new_pro(database, kind=PrincipalKind.REGULATOR)
    # Without a grant the regulator reads nothing.
    assert readable(database, settings, regulator, space.id) == set()
    assert error_code(break_glass(client, regulator, space.nir, " "), 400) == "reason-required"

    response = break_glass(client, regulator, space.nir, "Appel au 15 : malaise")
    assert response.status_code == 201, response.text
    assert response.json()["mode"] == "regulation"
    assert readable(database, settings, regulator, space.id) == {docs.general, docs.psy}
    opened = audit(database, space.id, "emergency.open")[0]
    assert (opened.mode, opened.reason) == ("regulation", "110127")
    searched = audit(database, space.id, "document.search")[-1]
    assert searched.mode == "regulation"
    assert [m.kind for m in outbox(database) if m.kind.startswith("access.")] == [
        "access.emergency"
    ]

    other = new_space(database)
    assert switches(client, other.headers, regulator=False).status_code == 200
    refused = break_glass(client, regulator, other.nir, "Appel au 15")
    assert error_code(refused, 403) == "regulation-opposed"
    assert audit(database, other.id, "emergency.open-denied")[0].mode == "regulation"


def test_acc6_masked_documents_in_an_emergency_only_with_the_third_switch(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    emergency = new_pro(database)
    regulator = new_pro(database, kind=PrincipalKind.REGULATOR)
    for who in (emergency, regulator):
        assert break_glass(client, who, space.nir, REASON).status_code == 201
        assert docs.masked not in readable(database, settings, who, space.id)
    assert switches(client, space.headers, masked_in_emergency=True).status_code == 200
    for who in (emergency, regulator):
        assert docs.masked in readable(database, settings, who, space.id)
        assert can_get(database, settings, who, docs.masked)
    # The holder's own care team still needs the administrator role (DOC-3, ACC-4).
    physician = new_pro(database)
    assert declare(client, physician, space.nir).status_code == 202
    assert not can_get(database, settings, physician, docs.masked)


def _answer(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """What a professional learns: the status and the body, request id aside."""
    body = response.json()
    body["error"].pop("request_id", None)
    return response.status_code, body


def test_acc5_acc3_a_blocked_professional_cannot_break_the_glass_nor_learn_the_block(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """ACC-5, ACC-3 (Carnet decision): a blocked professional opens no grant, and is answered
    exactly as a professional whose emergency access the holder opposed (ACC-6) — never
    "blocked", as the care declaration never tells a block either. The holder still sees the
    refused attempt, with its real reason, in their history (ACC-8)."""
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    blocked = new_pro(database)
    assert put_pro(client, space.headers, blocked.rpps, status="blocked").status_code == 200
    told = break_glass(client, blocked, space.nir, REASON)
    assert error_code(told, 403) == "emergency-opposed"
    assert not can_get(database, settings, blocked, docs.general)
    assert grants(database) == []

    opposing = new_space(database)
    assert switches(client, opposing.headers, emergency=False).status_code == 200
    assert _answer(told) == _answer(break_glass(client, new_pro(database), opposing.nir, REASON))
    # The care declaration answers the blocked professional as anyone else too.
    assert declare(client, blocked, space.nir).status_code == 202

    assert [e.reason for e in audit(database, space.id, "emergency.open-denied")] == ["blocked"]
    history = client.get(f"{API}/me/access-history", headers=space.headers).json()["entries"]
    attempt = next(e for e in history if e["action"] == "emergency.open-denied")
    assert (attempt["actor"]["rpps"], attempt["mode"]) == (blocked.rpps, "emergency")


def test_acc5_acc3_a_blocked_regulator_is_answered_as_an_opposed_regulation(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """ACC-5, ACC-3: the regulator path hides a block the same way (regulation-opposed)."""
    space = new_space(database)
    regulator = new_pro(database, kind=PrincipalKind.REGULATOR)
    assert put_pro(client, space.headers, regulator.rpps, status="blocked").status_code == 200
    told = break_glass(client, regulator, space.nir, REASON)
    assert error_code(told, 403) == "regulation-opposed"
    opposing = new_space(database)
    assert switches(client, opposing.headers, regulator=False).status_code == 200
    other = new_pro(database, kind=PrincipalKind.REGULATOR)
    assert _answer(told) == _answer(break_glass(client, other, opposing.nir, REASON))
    assert [e.reason for e in audit(database, space.id, "emergency.open-denied")] == ["blocked"]
    assert grants(database) == []


def test_acc6_a_minors_representatives_are_told_and_rep4_caregivers_cannot_switch(
    client: TestClient, database: Database
) -> None:
    people = family(database)
    with database.transaction() as session:
        child = session.get(Holder, people.child.id)
        assert child is not None
        child_nir = child.nir
    emergency = new_pro(database)
    assert break_glass(client, emergency, child_nir, REASON).status_code == 201
    told = [m.recipient for m in outbox(database) if m.kind == "access.emergency"]
    assert told == ["parent@example.org"]  # not the minor's own address

    # REP-4: caregivers read the switches but cannot change them; representatives can.
    caregiver = headers_for(database, people.caregiver.id, space=people.helped.id)
    assert client.get(f"{API}/me/emergency-settings", headers=caregiver).status_code == 200
    refused = switches(client, caregiver, emergency=False)
    assert error_code(refused, 403) == "caregiver-forbidden"
    assert audit(database, people.helped.id, "access.settings") == []
    parent = headers_for(database, people.parent.id, space=people.child.id)
    assert switches(client, parent, emergency=False).json()["emergency"] is False
    assert audit(database, people.child.id, "access.settings")[0].mode == "representative"
    later = new_pro(database)
    assert error_code(break_glass(client, later, child_nir, REASON), 403) == "emergency-opposed"


def test_acc5_each_grant_is_its_own_record(client: TestClient, database: Database) -> None:
    space = new_space(database)
    emergency = new_pro(database)
    first = break_glass(client, emergency, space.nir, REASON)
    second = break_glass(client, emergency, space.nir, "Nouvelle aggravation")
    assert first.status_code == second.status_code == 201
    found = grants(database)
    assert len(found) == 2 and len({g.id for g in found}) == 2
    assert all(isinstance(g.id, uuid.UUID) and g.mode == "emergency" for g in found)
    assert len(audit(database, space.id, "emergency.open")) == 2
