"""Closing a space one represents (LC-5 with REP-1, REP-4, REP-5, LC-7).

A minor's legal representative closes the child's space, a guardian the protected adult's, never a
caregiver; the space named by `X-Carnet-Space` is the one closed, never the caller's own; the
holder is told (a minor's notice goes to the representative).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.accounts.family import guardians
from carnet.accounts.models import Caregiving, Holder, Representation
from carnet.audit.models import AuditEntry
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from tests.factories import make_holder

CLOSE = "/api/v1/me/close"


@dataclass(frozen=True)
class People:
    parent: uuid.UUID
    child: uuid.UUID
    guardian: uuid.UUID
    protected: uuid.UUID
    caregiver: uuid.UUID
    helped: uuid.UUID


def headers(database: Database, holder_id: uuid.UUID, space: uuid.UUID) -> dict[str, str]:
    with database.transaction() as session:
        token, _row = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder_id), ttl=dt.timedelta(hours=1)
        )
    return {"Authorization": f"Bearer {token}", "X-Carnet-Space": str(space)}


@pytest.fixture
def people(database: Database) -> People:
    with database.transaction() as session:
        parent = make_holder(session, email="parent@example.org")
        child = make_holder(
            session, birth_date=dt.date.today() - dt.timedelta(days=365 * 8), first_names="Léa"
        )
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=parent.id,
                representative_nir=parent.nir,
                role="managing",
                status="accepted",
            )
        )
        guardian = make_holder(session, email="tuteur@example.org")
        protected = make_holder(session, email="protege@example.org", first_names="Paul")
        guardians.add_guardian(session, protected, guardian, SYSTEM)
        caregiver = make_holder(session, email="aidant@example.org")
        helped = make_holder(session, email="aide@example.org")
        session.add(
            Caregiving(
                holder_id=helped.id,
                caregiver_id=caregiver.id,
                status="accepted",
                created_at=dt.datetime.now(dt.UTC),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
            )
        )
        return People(parent.id, child.id, guardian.id, protected.id, caregiver.id, helped.id)


def state(database: Database, holder_id: uuid.UUID) -> str:
    with database.transaction() as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        return holder.state


def mails(database: Database, kind: str) -> list[tuple[str, str]]:
    with database.transaction() as session:
        return [
            (row.recipient, row.body_text)
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))
        ]


def test_decide_close_holder_and_representatives_only() -> None:
    """LC-5, REP-1, REP-5: the holder and a representative (parent or guardian) may close;
    REP-4: a caregiver never; nobody else either."""
    from carnet.access.rules import Actor, Relation, SpaceFacts, decide_close
    from carnet.audit.rules import Mode

    space = SpaceFacts(uuid.uuid4(), "active")
    person = Principal(PrincipalKind.HOLDER, uuid.uuid4())
    allowed = {
        relation: bool(decide_close(Actor(person, relation), space)) for relation in Relation
    }
    assert {r for r, ok in allowed.items() if ok} == {Relation.SELF, Relation.REPRESENTATIVE}
    refused = decide_close(Actor(person, Relation.CAREGIVER), space)
    assert refused.reason == "caregiver-forbidden"
    by_representative = decide_close(Actor(person, Relation.REPRESENTATIVE), space)
    assert by_representative.mode is Mode.REPRESENTATIVE


def test_a_parent_closes_the_childs_space_not_their_own(
    client: TestClient, database: Database, people: People
) -> None:
    """LC-5, REP-1: the space named by X-Carnet-Space is closed (audited in representative mode);
    the parent's own space stays active and the parent stays logged in. LC-7: the closing notice
    of a minor goes to the representative."""
    as_parent = headers(database, people.parent, people.child)
    response = client.post(CLOSE, json={"purge": False}, headers=as_parent)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "closed"
    assert state(database, people.child) == "closed"
    assert state(database, people.parent) == "active"
    own = {"Authorization": as_parent["Authorization"]}
    assert client.get("/api/v1/me", headers=own).status_code == 200
    with database.transaction() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.holder_id == people.child, AuditEntry.action == "account.close"
            )
        ).one()
        assert (entry.actor_id, entry.mode) == (str(people.parent), "representative")
    notices = mails(database, "account.closed")
    assert [recipient for recipient, _body in notices] == ["parent@example.org"]
    assert "Léa" in notices[0][1] and "archivé pendant 10 ans" in notices[0][1]


def test_a_parent_asking_for_erasure_schedules_the_childs_not_their_own(
    client: TestClient, database: Database, people: People
) -> None:
    """LC-5: `purge: true` with a child's space schedules the child's erasure only."""
    response = client.post(
        CLOSE, json={"purge": True}, headers=headers(database, people.parent, people.child)
    )
    assert response.status_code == 200, response.text
    assert state(database, people.child) == "purge-pending"
    assert state(database, people.parent) == "active"


def test_a_guardian_closes_the_protected_adults_space_who_is_told(
    client: TestClient, database: Database, people: People
) -> None:
    """REP-5: a guardian acts as a representative and may close; the adult holder is told."""
    response = client.post(
        CLOSE, json={"purge": False}, headers=headers(database, people.guardian, people.protected)
    )
    assert response.status_code == 200, response.text
    assert state(database, people.protected) == "closed"
    assert state(database, people.guardian) == "active"
    assert [r for r, _b in mails(database, "account.closed")] == ["protege@example.org"]


def test_a_caregiver_cannot_close_nor_close_their_own_instead(
    client: TestClient, database: Database, people: People
) -> None:
    """REP-4: caregivers cannot close the space of the person they help: 403, both spaces open."""
    response = client.post(
        CLOSE, json={"purge": True}, headers=headers(database, people.caregiver, people.helped)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "caregiver-forbidden"
    assert state(database, people.helped) == "active"
    assert state(database, people.caregiver) == "active"
    assert mails(database, "account.closed") == []


def test_a_space_one_does_not_manage_is_not_found_and_nothing_closes(
    client: TestClient, database: Database, people: People
) -> None:
    """REP-1: someone who is not a representative cannot manage the space (404: no oracle)."""
    response = client.post(
        CLOSE, json={"purge": True}, headers=headers(database, people.guardian, people.child)
    )
    assert response.status_code == 404
    assert state(database, people.child) == "active"
    assert state(database, people.guardian) == "active"


def test_closing_ones_own_space_tells_the_holder(
    client: TestClient, database: Database, people: People
) -> None:
    """LC-5: the holder closing their own space (no header) gets the notice too."""
    own = headers(database, people.caregiver, people.caregiver)
    del own["X-Carnet-Space"]
    response = client.post(CLOSE, json={"purge": True}, headers=own)
    assert response.status_code == 200, response.text
    assert state(database, people.caregiver) == "purge-pending"
    notices = mails(database, "account.closed")
    assert [r for r, _b in notices] == ["aidant@example.org"]
    assert "effacé" in notices[0][1]
