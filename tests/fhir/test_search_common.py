"""`_id`, `_lastUpdated` and `Prefer: handling=lenient` on the searches served from memory (the
profile's types, RelatedPerson, Appointment), as on DocumentReference: a client's generic search
code (fhirpy, fhir-kit-client) works the same on every type."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from carnet.db import Database
from tests.fhir.support import fhir_json, locations, outcome
from tests.profile.support import API, cast
from tests.profile.test_profile_api import PAST, SAMPLES


def _ids(bundle: dict[str, Any]) -> set[str]:
    return {
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") != "outcome"
    }


def test_id_and_last_updated_narrow_a_profile_search(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    for body in (SAMPLES["vaccination"], {"vaccine": "ROR", "code": "03", "date": PAST}):
        assert (
            client.post(f"{API}/me/profile/vaccination", json=body, headers=who.holder).status_code
            == 201
        )
    patient = {"patient": f"Patient/{who.holder_id}"}
    every = fhir_json(client.get("/fhir/Immunization", params=patient, headers=who.holder))
    first, second = sorted(_ids(every))
    one = fhir_json(
        client.get("/fhir/Immunization", params={**patient, "_id": first}, headers=who.holder)
    )
    assert _ids(one) == {first} and one["total"] == 1
    either = fhir_json(
        client.get(
            "/fhir/Immunization",
            params={**patient, "_id": f"{first},{second},nope"},
            headers=who.holder,
        )
    )
    assert _ids(either) == {first, second}
    stamp = every["entry"][0]["resource"]["meta"]["lastUpdated"]
    recent = fhir_json(
        client.get(
            "/fhir/Immunization",
            params={**patient, "_lastUpdated": f"ge{stamp[:10]}"},
            headers=who.holder,
        )
    )
    assert _ids(recent) == {first, second}
    none = fhir_json(
        client.get(
            "/fhir/Immunization",
            params={**patient, "_lastUpdated": "lt2000-01-01"},
            headers=who.holder,
        )
    )
    assert none["total"] == 0
    bad = client.get(
        "/fhir/Immunization", params={**patient, "_lastUpdated": "xx2020"}, headers=who.holder
    )
    assert locations(outcome(bad, 400)) == ["_lastUpdated"]


def test_lenient_searches_ignore_unknown_parameters_and_say_so(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    assert (
        client.post(
            f"{API}/me/profile/allergy", json=SAMPLES["allergy"], headers=who.holder
        ).status_code
        == 201
    )
    params = {"patient": f"Patient/{who.holder_id}", "_totalMethod": "accurate"}
    for kind in ("AllergyIntolerance", "RelatedPerson", "Appointment"):
        strict = client.get(f"/fhir/{kind}", params=params, headers=who.holder)
        assert locations(outcome(strict, 400)) == ["_totalMethod"], kind
        lenient = fhir_json(
            client.get(
                f"/fhir/{kind}", params=params, headers={**who.holder, "Prefer": "handling=lenient"}
            )
        )
        told = [e for e in lenient["entry"] if e.get("search", {}).get("mode") == "outcome"]
        assert len(told) == 1, kind
        assert "_totalMethod" in told[0]["resource"]["issue"][0]["diagnostics"]
    allergies = fhir_json(
        client.get(
            "/fhir/AllergyIntolerance",
            params=params,
            headers={**who.holder, "Prefer": "handling=lenient"},
        )
    )
    assert allergies["total"] == 1


def test_lenient_on_the_paged_searches_too(client: TestClient, database: Database) -> None:
    """AuditEvent, ExplanationOfBenefit and Communication take `Prefer: handling=lenient` too."""
    who = cast(database)
    params = {"patient": f"Patient/{who.holder_id}", "_totalMethod": "accurate"}
    for kind in ("AuditEvent", "ExplanationOfBenefit", "Communication"):
        strict = client.get(f"/fhir/{kind}", params=params, headers=who.holder)
        assert locations(outcome(strict, 400)) == ["_totalMethod"], kind
        lenient = fhir_json(
            client.get(
                f"/fhir/{kind}", params=params, headers={**who.holder, "Prefer": "handling=lenient"}
            )
        )
        told = [e for e in lenient["entry"] if e.get("search", {}).get("mode") == "outcome"]
        assert len(told) == 1 and "_totalMethod" in told[0]["resource"]["issue"][0]["diagnostics"]
