"""The CapabilityStatement lists exactly what the `/fhir` routes implement, and every FHIR answer
(errors included) is `application/fhir+json`. Every route declares one access rule; only
`/fhir/metadata` is public. SMART discovery (`/fhir/.well-known/smart-configuration`, public
JSON, not a FHIR resource) is not a FHIR route."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from carnet.access.routes import declared_rules
from carnet.db import Database
from tests.fhir.support import FHIR_JSON, deposit_one, fhir_json, locations, outcome, people

SMART_DISCOVERY = "/fhir/.well-known/smart-configuration"


def _fhir_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every API route under /fhir, routers included."""
    return {
        (method, path)
        for path, methods, _rules in declared_rules(app)
        if path.startswith("/fhir") and path != SMART_DISCOVERY
        for method in methods
    }


def _interactions_of_routes(
    app: FastAPI, operations: dict[str, set[str]] | None = None
) -> tuple[dict[str, set[str]], set[str]]:
    """What the routes implement, in CapabilityStatement terms (instance operations apart)."""
    per_type: dict[str, set[str]] = {}
    system: set[str] = set()
    for method, path in _fhir_routes(app):
        parts = path.removeprefix("/fhir").strip("/").split("/")
        if path == "/fhir/metadata":
            continue
        if len(parts) == 3 and parts[2].startswith("$"):
            assert method == "GET"
            if operations is not None:
                operations.setdefault(parts[0], set()).add(parts[2][1:])
            continue
        if parts == [""]:
            assert method == "POST"
            system.add("transaction")
            continue
        kind = parts[0]
        if parts[1:] == ["_search"]:
            assert method == "POST"  # search by POST, the same search-type interaction
            per_type.setdefault(kind, set()).add("search-type")
            continue
        instance = len(parts) == 2
        code = {
            ("GET", False): "search-type",
            ("POST", False): "create",
            ("GET", True): "read",
            ("PUT", True): "update",
            ("DELETE", True): "delete",
            ("PATCH", True): "patch",
            ("PATCH", False): "patch",  # conditional patch (?identifier=)
        }[(method, instance)]
        per_type.setdefault(kind, set()).add(code)
    return per_type, system


def test_capability_statement_lists_exactly_the_routes(client: TestClient, app: FastAPI) -> None:
    statement = fhir_json(client.get("/fhir/metadata"))  # public: no token
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert statement["format"] == ["json"]
    rest = statement["rest"][0]
    declared = {item["type"]: {i["code"] for i in item["interaction"]} for item in rest["resource"]}
    operations: dict[str, set[str]] = {}
    per_type, system = _interactions_of_routes(app, operations)
    assert declared == per_type
    assert {i["code"] for i in rest["interaction"]} == system == {"transaction"}
    declared_operations = {
        item["type"]: {o["name"] for o in item["operation"]}
        for item in rest["resource"]
        if item.get("operation")
    }
    assert declared_operations == operations == {"Patient": {"everything"}}


def _param_names(statement: dict[str, Any], kind: str) -> set[str]:
    item = next(r for r in statement["rest"][0]["resource"] if r["type"] == kind)
    return {p["name"] for p in item.get("searchParam", [])}


def test_listed_search_parameters_are_exactly_those_accepted(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    deposit_one(client, who)
    statement = fhir_json(client.get("/fhir/metadata"))
    samples = {
        "patient": f"Patient/{who.holder_id}",
        "subject": f"Patient/{who.holder_id}",
        "patient.identifier": f"urn:oid:1.2.250.1.213.1.4.8|{who.nir}",
        "subject.identifier": f"urn:oid:1.2.250.1.213.1.4.8|{who.nir}",
        "type": "11502-2",
        "category": "BIOLOGIE",
        "date": "ge2020-01-01",
        "period": "le2030-01-01",
        "author.identifier": who.rpps,
        "status": "current",
        "_id": str(uuid.uuid4()),
        "_lastUpdated": "ge2020-01-01",
    }
    names = _param_names(statement, "DocumentReference")
    assert names == set(samples)
    for name in names - {"patient", "subject", "patient.identifier", "subject.identifier"}:
        response = client.get(
            "/fhir/DocumentReference",
            params={"patient": f"Patient/{who.holder_id}", name: samples[name]},
            headers=who.pro,
        )
        fhir_json(response)
    for name in ("patient", "subject", "patient.identifier", "subject.identifier"):
        fhir_json(
            client.get("/fhir/DocumentReference", params={name: samples[name]}, headers=who.pro)
        )
    for unlisted in ("_tag", "identifier", "setting", "facility", "event", "relatesto"):
        response = client.get(
            "/fhir/DocumentReference",
            params={"patient": f"Patient/{who.holder_id}", unlisted: "x"},
            headers=who.pro,
        )
        assert locations(outcome(response, 400)) == [unlisted]
    assert _param_names(statement, "Patient") == {"identifier"}
    assert _param_names(statement, "Binary") == set()


def test_every_fhir_route_declares_one_rule_and_only_metadata_is_public(app: FastAPI) -> None:
    rules = {
        (method, path): found
        for path, methods, found in declared_rules(app)
        if path.startswith("/fhir") and path != SMART_DISCOVERY
        for method in methods
    }
    # 14 documents/patients/audit (ITI-67 by GET and POST, PATCH by id and by identifier), 7 profile
    # types x 4, 2 reimbursements, 2 contacts, $everything, 3 messaging, 5 agenda (read, search,
    # create, update, delete)
    assert len(rules) == 55
    assert all(len(found) == 1 for found in rules.values())
    public = {key for key, found in rules.items() if found == ["public"]}
    assert public == {("GET", "/fhir/metadata")}
    writers = {key for key, found in rules.items() if found == ["authenticated:professional"]}
    assert writers == {
        ("POST", "/fhir"),
        ("POST", "/fhir/DocumentReference"),
        ("PUT", "/fhir/DocumentReference/{document_id}"),
        ("PATCH", "/fhir/DocumentReference/{document_id}"),
        ("PATCH", "/fhir/DocumentReference"),
        ("POST", "/fhir/Binary"),
        ("POST", "/fhir/Communication"),
    }


def test_every_answer_is_fhir_json(client: TestClient, app: FastAPI) -> None:
    """Errors too: 401 without a token on every route, 404 and 405 under /fhir."""
    for method, path in sorted(_fhir_routes(app)):
        if path == "/fhir/metadata":
            continue
        url = re.sub(r"\{[a-z_]+\}", "x", path)
        response = client.request(method, url)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == FHIR_JSON
        outcome(response, 401)
    outcome(client.get("/fhir/Procedure"), 404)
    outcome(client.delete("/fhir/DocumentReference/x"), 405)
