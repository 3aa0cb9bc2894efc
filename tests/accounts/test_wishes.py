"""Contacts and wishes: sealed under the holder's key, bound to their row, audited without content.

Rules ACC-7 (contacts and wishes are part of what a space holds), ACC-8 (every read and change is
audited), LC-8 (purge leaves nothing readable), REP-4 (a caregiver acts on the holder's behalf).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from carnet.accounts import lifecycle, wishes
from carnet.accounts import purge as purge_service
from carnet.accounts.family import relations as family
from carnet.accounts.models import Caregiving, Holder, HolderWish
from carnet.audit.models import AuditEntry
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput, VaultError
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.factories import make_holder

API = "/api/v1"
MARKER = "ZQX-wish-marker-7731"


def headers_for(
    database: Database, holder_id: uuid.UUID, space: uuid.UUID | None = None
) -> dict[str, str]:
    with database.transaction() as session:
        token, _row = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder_id), ttl=dt.timedelta(hours=2)
        )
    headers = {"Authorization": f"Bearer {token}"}
    if space is not None:
        headers["X-Carnet-Space"] = str(space)
    return headers


def holder(database: Database, **values: object) -> Holder:
    with database.transaction() as session:
        return make_holder(session, **values)


def fill(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """Every kind of contact and wish, each carrying the marker; returns kind -> id."""
    ids = {}
    for kind, body in (
        (
            "trusted_person",
            {"name": f"Dana {MARKER}", "phone": "+33 6 12 34 56 78", "address": "1 rue X"},
        ),
        ("organ_donation", {"choice": "donor", "note": MARKER}),
        ("advance-directives", {"has_directives": True, "where_kept": "notaire", "text": MARKER}),
    ):
        response = client.put(f"{API}/me/wishes/{kind}", json=body, headers=headers)
        assert response.status_code == 200, response.text
        ids[response.json()["kind"]] = response.json()["id"]
    for n in range(2):
        response = client.post(
            f"{API}/me/wishes/emergency-contacts",
            json={"name": f"Contact {n} {MARKER}", "relation": "sister", "email": "c@example.org"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        ids[f"contact{n}"] = response.json()["id"]
    return ids


def test_wishes_round_trip(client: TestClient, database: Database) -> None:
    me = holder(database)
    headers = headers_for(database, me.id)
    empty = client.get(f"{API}/me/wishes", headers=headers).json()
    assert empty["emergency_contacts"] == [] and empty["trusted_person"] is None
    ids = fill(client, headers)
    got = client.get(f"{API}/me/wishes", headers=headers).json()
    assert got["space_id"] == str(me.id)
    assert got["organ_donation"]["content"] == {"choice": "donor", "note": MARKER}
    assert got["advance_directives"]["content"] == {
        "has_directives": True,
        "where_kept": "notaire",
        "text": MARKER,
    }
    assert got["trusted_person"]["content"]["name"] == f"Dana {MARKER}"
    assert got["trusted_person"]["content"]["email"] is None
    assert sorted(c["content"]["name"] for c in got["emergency_contacts"]) == [
        f"Contact 0 {MARKER}",
        f"Contact 1 {MARKER}",
    ]
    assert got["organ_donation"]["updated_by"] == f"holder/{me.id}"
    # A single kind is replaced in place (same row), not duplicated.
    changed = client.put(
        f"{API}/me/wishes/organ_donation", json={"choice": "refuses"}, headers=headers
    ).json()
    assert changed["id"] == ids["organ_donation"]
    assert client.get(f"{API}/me/wishes", headers=headers).json()["organ_donation"]["content"] == {
        "choice": "refuses",
        "note": "",
    }
    # An emergency contact is replaced through its id.
    contact = ids["contact0"]
    replaced = client.put(
        f"{API}/me/wishes/emergency-contacts/{contact}",
        json={"name": "New name", "phone": "0612345678"},
        headers=headers,
    )
    assert replaced.status_code == 200
    names = {
        c["id"]: c["content"]["name"]
        for c in client.get(f"{API}/me/wishes", headers=headers).json()["emergency_contacts"]
    }
    assert names[contact] == "New name"
    # Delete.
    assert client.delete(f"{API}/me/wishes/{contact}", headers=headers).status_code == 204
    after = client.get(f"{API}/me/wishes", headers=headers).json()
    assert [c["id"] for c in after["emergency_contacts"]] == [ids["contact1"]]
    with database.transaction() as session:
        assert session.get(HolderWish, uuid.UUID(contact)) is None


@pytest.mark.parametrize(
    ("kind", "body", "status"),
    [
        ("organ_donation", {"choice": "maybe"}, 400),
        ("organ_donation", {"choice": "donor", "extra": 1}, 400),
        ("advance_directives", {"where_kept": "x"}, 400),
        ("trusted_person", {"name": "", "phone": "1"}, 400),
        ("trusted_person", {"name": "A", "email": "not-an-address"}, 400),
        ("emergency_contact", {"name": "A"}, 400),
        ("blood_type", {"value": "O+"}, 400),
    ],
)
def test_wishes_are_validated(
    client: TestClient, database: Database, kind: str, body: dict[str, object], status: int
) -> None:
    me = holder(database)
    response = client.put(
        f"{API}/me/wishes/{kind}", json=body, headers=headers_for(database, me.id)
    )
    assert response.status_code == status, response.text
    with database.transaction() as session:
        assert session.scalars(select(HolderWish).where(HolderWish.holder_id == me.id)).all() == []


def test_wish_content_is_sealed_and_bound_to_its_row(
    client: TestClient, database: Database, vault: Vault
) -> None:
    me = holder(database)
    other = holder(database)
    ids = fill(client, headers_for(database, me.id))
    fill(client, headers_for(database, other.id))
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, kind, sealed FROM holder_wishes")).all()
    assert len(rows) == 10
    for _id, _kind, sealed in rows:
        raw = bytes(sealed)
        assert MARKER.encode() not in raw
        assert b"donor" not in raw and b"notaire" not in raw
    # Copying one row's ciphertext onto another row (same holder) does not open.
    donation, directives = uuid.UUID(ids["organ_donation"]), uuid.UUID(ids["advance_directives"])
    with database.transaction() as session:
        source = session.get(HolderWish, donation)
        target = session.get(HolderWish, directives)
        assert source is not None and target is not None
        space = session.get(Holder, me.id)
        assert space is not None
        opened = {w.kind: w for w in wishes.list_wishes(session, vault, space, SYSTEM)}
        assert opened["organ_donation"].content["choice"] == "donor"
        with pytest.raises(VaultError):
            vault.unseal_text(session, me.id, target.id, wishes.PURPOSE, source.sealed)
        # Nor onto another holder's row.
        with pytest.raises(VaultError):
            vault.unseal_text(session, other.id, source.id, wishes.PURPOSE, source.sealed)
        target.sealed = source.sealed
    response = client.get(f"{API}/me/wishes", headers=headers_for(database, me.id))
    assert response.status_code == 500
    assert MARKER not in response.text


def test_wishes_are_audited_without_content(client: TestClient, database: Database) -> None:
    me = holder(database)
    headers = headers_for(database, me.id)
    ids = fill(client, headers)
    client.get(f"{API}/me/wishes", headers=headers)
    client.put(
        f"{API}/me/wishes/organ_donation",
        json={"choice": "undecided", "note": MARKER},
        headers=headers,
    )
    client.delete(f"{API}/me/wishes/{ids['contact1']}", headers=headers)
    with database.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.holder_id == me.id).order_by(AuditEntry.seq)
        ).all()
        actions = [e.action for e in entries]
        assert actions == [
            "wishes.create",
            "wishes.create",
            "wishes.create",
            "wishes.create",
            "wishes.create",
            "wishes.read",
            "wishes.update",
            "wishes.delete",
        ]
        assert {e.actor_id for e in entries} == {str(me.id)}
        assert entries[-1].target_id == ids["contact1"]
        assert entries[-2].reason == "organ_donation"
    with database.engine.connect() as connection:
        for table in ("audit_entries", "outbox"):
            for row in connection.execute(text(f"SELECT * FROM {table}")).all():
                assert MARKER not in repr(row)


def test_other_holders_wishes_are_404(client: TestClient, database: Database) -> None:
    me = holder(database)
    other = holder(database)
    ids = fill(client, headers_for(database, other.id))
    mine = headers_for(database, me.id)
    assert (
        client.delete(f"{API}/me/wishes/{ids['trusted_person']}", headers=mine).status_code == 404
    )
    assert (
        client.put(
            f"{API}/me/wishes/emergency-contacts/{ids['contact0']}",
            json={"name": "x"},
            headers=mine,
        ).status_code
        == 404
    )
    with database.transaction() as session:
        assert session.get(HolderWish, uuid.UUID(ids["trusted_person"])) is not None


def test_rep4_caregiver_edits_wishes_on_the_holders_behalf(
    client: TestClient, database: Database, settings: Settings
) -> None:
    owner = holder(database)
    helper = holder(database)
    with database.transaction() as session:
        session.add(
            Caregiving(
                holder_id=owner.id,
                caregiver_id=helper.id,
                status="accepted",
                expires_at=dt.datetime.now(dt.UTC),
            )
        )
    as_helper = headers_for(database, helper.id, owner.id)
    response = client.post(
        f"{API}/me/wishes/emergency-contacts", json={"name": "Nurse"}, headers=as_helper
    )
    assert response.status_code == 201
    assert response.json()["updated_by"] == f"holder/{helper.id}"
    # It landed in the holder's space, not the helper's.
    assert (
        client.get(f"{API}/me/wishes", headers=headers_for(database, helper.id)).json()[
            "emergency_contacts"
        ]
        == []
    )
    owner_view = client.get(f"{API}/me/wishes", headers=headers_for(database, owner.id)).json()
    assert [c["content"]["name"] for c in owner_view["emergency_contacts"]] == ["Nurse"]
    with database.transaction() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.holder_id == owner.id, AuditEntry.action == "wishes.create"
            )
        ).one()
        assert entry.mode == "caregiver" and entry.actor_id == str(helper.id)
        assert family.manages(session, helper.id, owner.id, settings=settings) == "caregiver"


def test_lc8_purge_leaves_no_wish(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    me = holder(database)
    fill(client, headers_for(database, me.id))
    with database.transaction() as session:
        row = session.get(Holder, me.id)
        assert row is not None
        lifecycle.close(session, settings, row, SYSTEM, purge=True)
        purge_service.purge(session, vault, settings, row)
    with database.transaction() as session:
        assert session.scalars(select(HolderWish).where(HolderWish.holder_id == me.id)).all() == []
        assert (
            session.scalars(select(OutboxMessage).where(OutboxMessage.holder_id == me.id)).all()
            == []
        )


def test_service_validation_names_the_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        wishes.validate("organ_donation", {"choice": "perhaps"})
    assert raised.value.field == "choice"
    assert wishes.validate("organ_donation", {"choice": "donor"}) == {"choice": "donor", "note": ""}
