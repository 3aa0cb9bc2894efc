"""ACC-9 on every FHIR read route: an app reads what its granted scopes name, for the holder who
connected it, while it is online (or offline) and its listing is covered by the consent; anything
else is a 403 OperationOutcome, audited in the space in mode "app" with the app's id."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.apps import service
from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.apps.support import LISTING, add_app, app_token
from tests.fhir.support import bearer, outcome, people, schema_errors
from tests.portal.support import deposit

EVERYTHING = [
    "patient/DocumentReference.rs",
    "patient/Patient.rs",
    "patient/Immunization.rs",
    "patient/Observation.rs",
    "patient/AllergyIntolerance.rs",
    "patient/Condition.rs",
    "patient/ExplanationOfBenefit.rs",
    "patient/AuditEvent.rs",
]


def _routes(holder_id: uuid.UUID, nir: str, doc_id: uuid.UUID) -> dict[str, tuple[str, str]]:
    """Every FHIR read route → (path, the scope it needs)."""
    patient = f"patient=Patient/{holder_id}"
    return {
        "DocumentReference search": (f"/fhir/DocumentReference?{patient}", "DocumentReference"),
        "DocumentReference read": (f"/fhir/DocumentReference/{doc_id}", "DocumentReference"),
        "Binary (ITI-68)": (f"/fhir/Binary/{doc_id}", "DocumentReference"),
        "Patient read": (f"/fhir/Patient/{holder_id}", "Patient"),
        "Patient search": (f"/fhir/Patient?identifier={INS_NIR_SYSTEM}|{nir}", "Patient"),
        "Immunization": (f"/fhir/Immunization?{patient}", "Immunization"),
        "Observation": (f"/fhir/Observation?{patient}", "Observation"),
        "AllergyIntolerance": (f"/fhir/AllergyIntolerance?{patient}", "AllergyIntolerance"),
        "Condition": (f"/fhir/Condition?{patient}", "Condition"),
        "ExplanationOfBenefit": (f"/fhir/ExplanationOfBenefit?{patient}", "ExplanationOfBenefit"),
        "AuditEvent": (f"/fhir/AuditEvent?{patient}", "AuditEvent"),
    }


def test_every_fhir_route_needs_its_scope(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    who = people(database)
    with database.transaction() as session:
        from carnet.accounts.models import Holder

        holder = session.get(Holder, who.holder_id)
        assert holder is not None
    doc_id = deposit(database, vault, settings, holder, "Bilan")
    add_app(database, scopes=LISTING + EVERYTHING)
    routes = _routes(who.holder_id, who.nir, doc_id)
    allowed = bearer(app_token(database, who.holder_id, EVERYTHING))
    for name, (path, _scope) in routes.items():
        answer = client.get(path, headers=allowed)
        assert answer.status_code == 200, (name, answer.text)
    for name, (path, scope) in routes.items():
        others = [s for s in EVERYTHING if not s.startswith(f"patient/{scope}.")]
        token = bearer(app_token(database, who.holder_id, others))
        answer = client.get(path, headers=token)
        issues = outcome(answer, 403)
        assert issues[0]["code"] == "forbidden", name
        assert issues[0]["details"]["coding"][0]["code"] == "insufficient-scope"
        assert schema_errors(answer.json()) == []
    # document deposits stay closed to apps (each consent above replaced the previous one)
    allowed = bearer(app_token(database, who.holder_id, ["patient/DocumentReference.rs"]))
    assert client.post("/fhir/DocumentReference", json={}, headers=allowed).status_code == 403
    with database.transaction() as session:
        app_id = service.get_app(session, "mon-suivi").id
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "app.request-denied")
        ).all()
        reads = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "document.read-metadata")
        ).all()
    assert len(denied) == len(routes)
    assert {(e.actor_kind, e.actor_id, e.mode, e.reason) for e in denied} == {
        ("app", str(app_id), "app", "insufficient-scope")
    }
    assert [(e.actor_kind, e.mode) for e in reads] == [("app", "app")]


def test_an_app_reads_only_its_scopes_and_only_its_holder(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    who = people(database)
    other = people(database)
    from carnet.accounts.models import Holder

    with database.transaction() as session:
        mine = session.get(Holder, who.holder_id)
        theirs = session.get(Holder, other.holder_id)
        assert mine is not None and theirs is not None
    doc_id = deposit(database, vault, settings, mine, "Mon bilan")
    other_doc = deposit(database, vault, settings, theirs, "Autre bilan")
    add_app(database)
    token = bearer(app_token(database, who.holder_id, ["patient/DocumentReference.rs"]))
    found = client.get("/fhir/DocumentReference", headers=token).json()  # the app's patient
    assert [e["resource"]["id"] for e in found["entry"]] == [str(doc_id)]
    assert client.get(f"/fhir/Binary/{doc_id}", headers=token).status_code == 200
    # another holder: nothing, existence not leaked
    assert client.get(f"/fhir/DocumentReference/{other_doc}", headers=token).status_code == 404
    search = client.get(
        f"/fhir/DocumentReference?patient=Patient/{other.holder_id}", headers=token
    ).json()
    assert search["total"] == 0
    assert (
        client.get(
            "/fhir/Observation?patient=Patient/" + str(who.holder_id), headers=token
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("change", "works"),
    [
        ({"status": "offline"}, True),  # Carnet decision: connected apps keep working
        ({"status": "suspended"}, False),
        ({"status": "delisted"}, False),
        ({"version": "1.1"}, True),  # a new version asking for nothing more
        ({"version": "2.0", "scopes": [*LISTING, "patient/Observation.rs"]}, False),
    ],
)
def test_status_and_version_changes(
    client: TestClient, database: Database, change: dict[str, object], works: bool
) -> None:
    who = people(database)
    add_app(database)
    token = bearer(app_token(database, who.holder_id, ["patient/DocumentReference.rs"]))
    assert client.get("/fhir/DocumentReference", headers=token).status_code == 200
    with database.transaction() as session:
        status = change.pop("status", None)
        if change:
            service.update_app(session, "mon-suivi", **change)  # type: ignore[arg-type]
        if status:
            service.set_status(session, "mon-suivi", str(status))
    answer = client.get("/fhir/DocumentReference", headers=token)
    assert answer.status_code == (200 if works else 401 if status else 403), answer.text


def test_fresh_consent_after_a_version_asking_for_more(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    add_app(database)
    token = bearer(app_token(database, who.holder_id, ["patient/DocumentReference.rs"]))
    with database.transaction() as session:
        service.update_app(
            session, "mon-suivi", version="2.0", scopes=[*LISTING, "patient/Observation.rs"]
        )
    refused = client.get("/fhir/DocumentReference", headers=token)
    details = outcome(refused, 403)[0]["details"]
    assert details["coding"][0]["code"] == "consent-outdated"
    assert details["text"].startswith("This version of the app asks for more")
    listed = client.get("/api/v1/me/apps", headers=who.holder).json()
    assert listed[0]["needs_fresh_consent"] is True
    again = bearer(app_token(database, who.holder_id, ["patient/Observation.rs"]))
    assert (
        client.get(f"/fhir/Observation?patient=Patient/{who.holder_id}", headers=again).status_code
        == 200
    )
    assert client.get("/fhir/DocumentReference", headers=token).status_code == 401  # replaced


def test_holder_lists_and_disconnects_every_token_at_once(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    add_app(database)
    tokens = [
        bearer(app_token(database, who.holder_id, ["patient/DocumentReference.rs"])),
    ]
    listed = client.get("/api/v1/me/apps", headers=who.holder).json()
    assert [(a["client_id"], a["scopes"]) for a in listed] == [
        ("mon-suivi", ["patient/DocumentReference.rs"])
    ]
    gone = client.delete("/api/v1/me/apps/mon-suivi", headers=who.holder)
    assert gone.status_code == 200 and gone.json()["revoked_tokens"] == 1
    for token in tokens:
        assert client.get("/fhir/DocumentReference", headers=token).status_code == 401
    assert client.get("/api/v1/me/apps", headers=who.holder).json() == []
    assert client.delete("/api/v1/me/apps/mon-suivi", headers=who.holder).status_code == 404
    # an app token is not a holder token
    assert client.get("/api/v1/me/apps", headers=tokens[0]).status_code == 401
