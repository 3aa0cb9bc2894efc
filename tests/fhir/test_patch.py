"""Metadata updates by PATCH, as the French national profile's flux 03 sends them (ANS PDSm 3.1.1):
a JSON Patch (RFC 6902) or a FHIRPath Patch (Parameters), on the id or conditionally on the
masterIdentifier. The same rules as the PUT: only status (→ entered-in-error, DOC-6) and
securityLabel (DOC-4 release, REP-2) change, by the author; anything else is refused whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from carnet.db import Database
from tests.fhir.support import (
    VISIBILITY,
    People,
    deposit_one,
    fhir_json,
    locations,
    outcome,
    people,
)

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "pdsm"


def _json_patch(
    client: TestClient, who: People, target: str, operations: Any, headers: Any = None
) -> Any:
    return client.patch(
        f"/fhir/DocumentReference{target}",
        content=json.dumps(operations),
        headers={**(headers or who.pro), **JSON_PATCH},
    )


def _fhirpath_patch(client: TestClient, who: People, target: str, *operations: Any) -> Any:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "operation", "part": [{"name": k, **v} for k, v in op.items()]}
            for op in operations
        ],
    }
    return client.patch(f"/fhir/DocumentReference{target}", json=body, headers=who.pro)


def _codes(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for label in resource.get("securityLabel", []) for c in label["coding"]}


def _label(code: str) -> dict[str, Any]:
    return {"coding": [{"system": VISIBILITY, "code": code}]}


def test_doc6_a_json_patch_withdraws_the_document(client: TestClient, database: Database) -> None:
    who = people(database)
    made = deposit_one(client, who)
    patched = fhir_json(
        _json_patch(
            client,
            who,
            f"/{made['id']}",
            [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
        )
    )
    assert patched["status"] == "entered-in-error"
    outcome(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.holder), 404)


def test_doc4_a_conditional_json_patch_releases_by_business_identifier(
    client: TestClient, database: Database
) -> None:
    """PDSm: `PATCH DocumentReference?identifier=system|value`, on the masterIdentifier."""
    who = people(database)
    master = {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.1.42"}
    made = deposit_one(
        client, who, masterIdentifier=master, securityLabel=[_label("INVISIBLE_PATIENT")]
    )
    outcome(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.holder), 404)
    kept = [label for label in made["securityLabel"] if "INVISIBLE_PATIENT" not in str(label)]
    answer = _json_patch(
        client, who, f"?identifier=urn:ietf:rfc:3986|{master['value']}",
        [{"op": "replace", "path": "/securityLabel", "value": kept}],
    )  # fmt: skip
    assert _codes(fhir_json(answer)) == {"N"}
    fhir_json(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.holder))


def test_a_conditional_patch_finds_only_the_authors_own_documents(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    master = {"value": "CR-2026-0001"}
    deposit_one(client, who, masterIdentifier=master)
    withdraw = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    # another professional learns nothing of it: 404 as for an unknown identifier
    outcome(_json_patch(client, who, "?identifier=CR-2026-0001", withdraw, who.other), 404)
    outcome(_json_patch(client, who, "?identifier=CR-UNKNOWN", withdraw), 404)
    issues = outcome(
        _json_patch(client, who, "?identifier=CR-2026-0001&status=current", withdraw), 400
    )
    assert locations(issues) == ["identifier"]


def test_a_fhirpath_patch_withdraws_and_changes_labels(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    made = deposit_one(client, who)
    added = fhir_json(
        _fhirpath_patch(
            client,
            who,
            f"/{made['id']}",
            {
                "type": {"valueCode": "add"},
                "path": {"valueString": "DocumentReference"},
                "name": {"valueString": "securityLabel"},
                "value": {"valueCodeableConcept": _label("INVISIBLE_REPRESENTANTS_LEGAUX")},
            },
        )
    )
    assert "INVISIBLE_REPRESENTANTS_LEGAUX" in _codes(added)
    last = len(added["securityLabel"]) - 1
    withdrawn = fhir_json(
        _fhirpath_patch(
            client,
            who,
            f"/{made['id']}",
            {
                "type": {"valueCode": "delete"},
                "path": {"valueString": f"DocumentReference.securityLabel[{last}]"},
            },
            {
                "type": {"valueCode": "replace"},
                "path": {"valueString": "DocumentReference.status"},
                "value": {"valueCode": "entered-in-error"},
            },
        )
    )
    assert withdrawn["status"] == "entered-in-error"
    assert "INVISIBLE_REPRESENTANTS_LEGAUX" not in _codes(withdrawn)


def test_other_elements_and_the_archive_flag_are_refused_and_nothing_changes(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    made = deposit_one(client, who)
    issues = outcome(
        _json_patch(
            client,
            who,
            f"/{made['id']}",
            [
                {"op": "replace", "path": "/status", "value": "entered-in-error"},
                {"op": "replace", "path": "/description", "value": "Renamed"},
                {
                    "op": "add",
                    "path": "/extension",
                    "value": [
                        {
                            "url": "https://interop.esante.gouv.fr/ig/fhir/pdsm/"
                            "StructureDefinition/PDSm-isArchived",
                            "valueBoolean": True,
                        }
                    ],
                },
            ],
        ),
        422,
    )
    assert locations(issues) == ["Patch[1].path", "Patch[2].path"]
    assert issues[1]["code"] == "not-supported"
    assert (
        fhir_json(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.pro))["status"]
        == "current"
    )
    # a status other than entered-in-error is refused as by the PUT (DOC-6)
    issues = outcome(
        _json_patch(
            client,
            who,
            f"/{made['id']}",
            [{"op": "replace", "path": "/status", "value": "current "}],
        ),
        422,
    )
    assert locations(issues) == ["DocumentReference.status"]


def test_malformed_patches_get_400_or_415(client: TestClient, database: Database) -> None:
    who = people(database)
    made = deposit_one(client, who)
    target = f"/fhir/DocumentReference/{made['id']}"
    outcome(client.patch(target, content=b"[{", headers={**who.pro, **JSON_PATCH}), 400)
    outcome(_json_patch(client, who, f"/{made['id']}", {"op": "replace"}), 400)
    issues = outcome(
        _json_patch(
            client, who, f"/{made['id']}", [{"op": "test", "path": "/status", "value": "x"}]
        ),
        400,
    )
    assert issues[0]["code"] == "processing"
    outcome(client.patch(target, content=b"status=x", headers={**who.pro,
            "Content-Type": "application/x-www-form-urlencoded"}), 415)  # fmt: skip
    unknown = _fhirpath_patch(
        client, who, f"/{made['id']}",
        {"type": {"valueCode": "move"}, "path": {"valueString": "DocumentReference.status"}},
    )  # fmt: skip
    assert locations(outcome(unknown, 422)) == ["Parameters.parameter[0].part"]


def test_only_the_author_patches(client: TestClient, database: Database) -> None:
    who = people(database)
    made = deposit_one(client, who)
    withdraw = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    outcome(_json_patch(client, who, f"/{made['id']}", withdraw, who.other), 404)
    outcome(_json_patch(client, who, f"/{made['id']}", withdraw, who.holder), 403)


def test_the_pdsm_flux03_example_is_answered_as_printed_and_accepted_corrected(
    client: TestClient, database: Database
) -> None:
    """PDSm 3.1.1 flux 03, its example body (`tests/data/pdsm/README.md`): as printed it asks for
    the archive flag (refused, 422 on that operation); corrected (status `current` without the
    trailing space, labels as CodeableConcepts, no archive flag) it applies."""
    who = people(database)
    master = {"system": "http://my-lab-system", "value": "123"}
    made = deposit_one(client, who, masterIdentifier=master)
    printed = json.loads((EXAMPLES / "flux03-metadata-update.json-patch.json").read_text("utf-8"))
    issues = outcome(_json_patch(client, who, "?identifier=http://my-lab-system|123", printed), 422)
    assert locations(issues) == ["Patch[2].path"]
    corrected = [
        {"op": "replace", "path": "/status", "value": "current"},
        {"op": "replace", "path": "/securityLabel",
         "value": [{"coding": [{"system": VISIBILITY, "code": "INVISIBLE_REPRESENTANTS_LEGAUX"}]}]},
    ]  # fmt: skip
    answer = fhir_json(_json_patch(client, who, "?identifier=http://my-lab-system|123", corrected))
    assert answer["id"] == made["id"] and answer["status"] == "current"
    assert _codes(answer) == {"N", "INVISIBLE_REPRESENTANTS_LEGAUX"}
