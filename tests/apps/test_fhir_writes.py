"""ACC-9 for writes: an app creates and changes only the categories the holder consented to
(`patient/Observation.cu`, `patient/Appointment.c`…), only in the space it was connected to, as
the holder who connected it would (ACC-7, REP-3 for a representative), while it is working and its
consent is current; SRV-2: appointments entered by an app. Refusals are 403 OperationOutcomes,
audited in mode "app", with nothing written; the history of changes says "app" and which app."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet import clock
from carnet.accounts.models import Representation
from carnet.agenda.models import Appointment
from carnet.apps import service
from carnet.apps.models import App
from carnet.audit.models import AuditEntry
from carnet.db import Database
from carnet.profile.models import ProfileEntry, ProfileEntryVersion
from tests.apps.support import LISTING, add_app, app_token
from tests.factories import make_holder
from tests.fhir.support import bearer, fhir_json, outcome, people, schema_errors
from tests.profile.test_fhir_write import observation

WRITES = [
    "patient/Observation.rs",
    "patient/Observation.cu",
    "patient/Appointment.c",
    "patient/Appointment.rs",
]
API = "/api/v1"


def _count(database: Database, model: Any, holder_id: uuid.UUID | None = None) -> int:
    query = select(func.count()).select_from(model)
    if holder_id is not None:
        query = query.where(model.holder_id == holder_id)
    with database.transaction() as session:
        return int(session.scalar(query) or 0)


def _app_id(database: Database, client_id: str = "mon-suivi") -> uuid.UUID:
    with database.transaction() as session:
        return service.get_app(session, client_id).id


def _denied(database: Database, action: str) -> list[tuple[str, str, str, str | None]]:
    with database.transaction() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
        return [(e.actor_kind, e.actor_id, e.mode, e.reason) for e in rows]


def appointment(holder_id: uuid.UUID, days: int = 3, **extra: Any) -> dict[str, Any]:
    start = (clock.now() + dt.timedelta(days=days)).replace(microsecond=0)
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "status": "booked",
        "description": "Kinésithérapeute",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=45)).isoformat(),
        "comment": "Séance 3",
        "participant": [
            {"actor": {"reference": f"Patient/{holder_id}"}, "status": "accepted"},
            {"actor": {"type": "Practitioner", "display": "M. Dos"}, "status": "accepted"},
            {"actor": {"type": "Location", "display": "Cabinet Sud"}, "status": "accepted"},
        ],
    }
    resource.update(extra)
    return resource


def test_acc9_an_app_creates_and_updates_a_measurement_and_the_history_says_app(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    add_app(database, scopes=LISTING + WRITES)
    token = bearer(app_token(database, who.holder_id, ["patient/Observation.cu"]))
    created = client.post("/fhir/Observation", json=observation(who.holder_id), headers=token)
    resource = fhir_json(created, 201)
    assert created.headers["location"].endswith(f"/Observation/{resource['id']}")
    assert resource["valueQuantity"]["value"] == 81 and schema_errors(resource) == []
    changed = observation(who.holder_id, value=79.5, id=resource["id"])
    updated = fhir_json(client.put(f"/fhir/Observation/{resource['id']}", json=changed,
                                   headers=token))  # fmt: skip
    assert updated["valueQuantity"]["value"] == 79.5
    # `.cu` without `.rs`: the app writes but does not read back (ACC-9, each interaction).
    assert client.get(f"/fhir/Observation/{resource['id']}", headers=token).status_code == 403
    app_id = _app_id(database)
    history = client.get(
        f"{API}/me/profile/measurement/{resource['id']}/history", headers=who.holder
    ).json()
    assert [(v["change"], v["changed_as"], v["changed_by"]) for v in history] == [
        ("create", "app", f"app/{app_id}"),
        ("update", "app", f"app/{app_id}"),
    ]
    with database.transaction() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["profile.create", "profile.update"]))
        ).all()
    assert [(e.action, e.actor_kind, e.actor_id, e.mode, e.holder_id) for e in audited] == [
        ("profile.create", "app", str(app_id), "app", who.holder_id),
        ("profile.update", "app", str(app_id), "app", who.holder_id),
    ]


def test_acc9_an_app_with_read_scopes_only_writes_nothing(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    add_app(database, scopes=LISTING + WRITES)
    mine = client.post(
        "/fhir/Observation", json=observation(who.holder_id), headers=who.holder
    ).json()
    token = bearer(app_token(database, who.holder_id, ["patient/Observation.rs"]))
    assert client.get(f"/fhir/Observation/{mine['id']}", headers=token).status_code == 200
    refused = [
        client.post("/fhir/Observation", json=observation(who.holder_id), headers=token),
        client.put(f"/fhir/Observation/{mine['id']}", headers=token,
                   json=observation(who.holder_id, value=60, id=mine["id"])),
        client.post("/fhir/Appointment", json=appointment(who.holder_id), headers=token),
    ]  # fmt: skip
    for answer in refused:
        issue = outcome(answer, 403)[0]
        assert issue["details"]["coding"][0]["code"] == "insufficient-scope"
        assert schema_errors(answer.json()) == []
    assert _count(database, ProfileEntry) == 1 and _count(database, ProfileEntryVersion) == 1
    assert _count(database, Appointment) == 0
    with database.transaction() as session:
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "app.request-denied")
        ).all()
    assert [(e.mode, e.holder_id, e.target_type, e.target_id) for e in denied] == [
        ("app", who.holder_id, "Observation", "c"),
        ("app", who.holder_id, "Observation", "u"),
        ("app", who.holder_id, "Appointment", "c"),
    ]


def test_srv2_an_app_creates_an_appointment_and_reads_it_back(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    add_app(database, scopes=LISTING + WRITES)
    token = bearer(
        app_token(database, who.holder_id, ["patient/Appointment.c", "patient/Appointment.rs"])
    )
    created = client.post("/fhir/Appointment", json=appointment(who.holder_id), headers=token)
    resource = fhir_json(created, 201)
    assert schema_errors(resource) == []
    assert (resource["description"], resource["comment"], resource["minutesDuration"]) == (
        "Kinésithérapeute", "Séance 3", 45,
    )  # fmt: skip
    assert [p["actor"].get("display") for p in resource["participant"][1:]] == [
        "M. Dos",
        "Cabinet Sud",
    ]
    read = fhir_json(client.get(f"/fhir/Appointment/{resource['id']}", headers=token))
    assert read["start"] == resource["start"]
    found = fhir_json(
        client.get("/fhir/Appointment", params={"patient": f"Patient/{who.holder_id}"},
                   headers=token)
    )  # fmt: skip
    assert [e["resource"]["id"] for e in found["entry"]] == [resource["id"]]
    listed = client.get(f"{API}/me/agenda/appointments", headers=who.holder).json()
    assert [(a["id"], a["author_kind"]) for a in listed] == [(resource["id"], "app")]
    with database.transaction() as session:
        row = session.get(Appointment, uuid.UUID(resource["id"]))
        assert row is not None and row.author_id == service.get_app(session, "mon-suivi").id
    # Bad input from an app: located, nothing written (SRV-2).
    bad = appointment(who.holder_id, days=-2)
    assert outcome(client.post("/fhir/Appointment", json=bad, headers=token), 422)[0][
        "expression"
    ] == ["Appointment.start"]
    assert _count(database, Appointment) == 1


def test_acc9_an_app_writes_only_in_the_space_it_was_connected_to(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    other = people(database)
    add_app(database, scopes=LISTING + WRITES)
    token = bearer(
        app_token(database, who.holder_id, ["patient/Observation.cu", "patient/Appointment.c"])
    )
    theirs = client.post(
        "/fhir/Observation", json=observation(other.holder_id), headers=other.holder
    ).json()
    for answer in (
        client.post("/fhir/Observation", json=observation(other.holder_id), headers=token),
        client.put(f"/fhir/Observation/{theirs['id']}", headers=token,
                   json=observation(other.holder_id, value=50, id=theirs["id"])),
        client.post("/fhir/Appointment", json=appointment(other.holder_id), headers=token),
    ):  # fmt: skip
        assert outcome(answer, 403)[0]["details"]["coding"][0]["code"] == "other-space"
    assert _count(database, ProfileEntryVersion) == 1  # the other holder's own entry only
    assert _count(database, Appointment) == 0
    denied = _denied(database, "profile.write-denied") + _denied(database, "agenda.create-denied")
    assert {(kind, mode) for kind, _id, mode, _r in denied} == {("app", "app")}
    assert len(denied) == 3


def test_acc9_suspension_and_a_version_asking_for_more_stop_writes(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    add_app(database, scopes=LISTING + WRITES)
    add_app(database, "autre-app", scopes=LISTING + WRITES)
    scopes = ["patient/Observation.cu"]
    token = bearer(app_token(database, who.holder_id, scopes))
    other = bearer(app_token(database, who.holder_id, scopes, client_id="autre-app"))
    body = observation(who.holder_id)
    assert client.post("/fhir/Observation", json=body, headers=token).status_code == 201
    # Suspended between the token's issue and its use (the status the decision point reads).
    with database.transaction() as session:
        session.scalars(select(App).where(App.client_id == "mon-suivi")).one().status = "suspended"
    answer = client.post("/fhir/Observation", json=body, headers=token)
    assert outcome(answer, 403)[0]["details"]["coding"][0]["code"] == "app-suspended"
    # The operator's suspension also revokes the tokens: the app is no longer even authenticated.
    with database.transaction() as session:
        service.set_status(session, "mon-suivi", "suspended")
    assert client.post("/fhir/Observation", json=body, headers=token).status_code == 401
    # A new version asking for more: fresh consent needed before writing again.
    with database.transaction() as session:
        service.update_app(session, "autre-app", version="2.0",
                           scopes=[*LISTING, *WRITES, "patient/Condition.cu"])  # fmt: skip
    answer = client.post("/fhir/Observation", json=body, headers=other)
    assert outcome(answer, 403)[0]["details"]["coding"][0]["code"] == "consent-outdated"
    assert _count(database, ProfileEntry) == 1


def test_acc7_an_app_connected_by_a_representative_writes_as_they_could(
    client: TestClient, database: Database
) -> None:
    """REP-1: a parent's app writes in the minor's space as the parent would, in mode app; once
    the parent no longer acts for the space (link ended, or majority: REP-3) the app writes
    nothing there."""
    with database.transaction() as session:
        parent = make_holder(session)
        child = make_holder(session, birth_date=clock.today() - dt.timedelta(days=10 * 365))
        session.add(Representation(minor_id=child.id, representative_id=parent.id,
                                   representative_nir=parent.nir, role="managing",
                                   status="accepted"))  # fmt: skip
        parent_id, child_id = parent.id, child.id
    add_app(database, scopes=LISTING + WRITES)
    token = bearer(app_token(database, child_id, ["patient/Observation.cu"], granted_by=parent_id))
    created = client.post("/fhir/Observation", json=observation(child_id), headers=token)
    assert created.status_code == 201, created.text
    with database.transaction() as session:
        version = session.scalars(select(ProfileEntryVersion)).one()
        assert version.changed_as == "app"
        session.execute(
            Representation.__table__.update()
            .where(Representation.minor_id == child_id)
            .values(status="ended")
        )
    answer = client.post("/fhir/Observation", json=observation(child_id), headers=token)
    assert outcome(answer, 403)[0]["details"]["coding"][0]["code"] == "consent-holder-gone"
    assert _count(database, ProfileEntry, child_id) == 1
