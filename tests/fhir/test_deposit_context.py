"""ITI-65 context and content elements come back as deposited, or are refused (issue 15).

`context.facilityType`, `practiceSetting`, `event` and `related` are kept and rendered back;
free text in them (a concept's `text`, a reference's `display`) is refused with an
OperationOutcome and nothing is stored. `content.format` and `attachment.creation` are kept too.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.db import Database
from tests.fhir.support import (
    count_documents,
    fhir_json,
    locations,
    outcome,
    pdf,
    people,
    provide_bundle,
)

SNOMED = "http://snomed.info/sct"
CONTEXT: dict[str, Any] = {
    "event": [
        {"coding": [{"system": SNOMED, "code": "396550006", "display": "Blood test"}]},
        {"coding": [{"system": "urn:oid:1.2.250.1.213.2.5", "code": "ALD"}]},
    ],
    "period": {"start": "2026-11-02T09:30:00+01:00"},
    "facilityType": {
        "coding": [
            {
                "system": "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
                "code": "SA29",
                "display": "Laboratoire de biologie médicale",
            }
        ]
    },
    "practiceSetting": {
        "coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.9", "code": "ETABLISSEMENT"}]
    },
    "related": [
        {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.7", "value": "V-2026-0042"}},
        {"reference": "Encounter/abc", "type": "Encounter"},
    ],
}
FORMAT = {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
          "code": "urn:ihe:lab:xd-lab:2008"}  # fmt: skip
CREATION = "2026-11-02T10:15:00+01:00"


def _deposit(client: TestClient, who: Any, context: dict[str, Any]) -> Any:
    bundle = provide_bundle(who.nir, who.rpps, [pdf("bilan")], context=copy.deepcopy(context))
    resource = bundle["entry"][1]["resource"]
    resource["content"][0]["format"] = FORMAT
    resource["content"][0]["attachment"]["creation"] = CREATION
    return client.post("/fhir", json=bundle, headers=who.pro)


def test_iti65_context_format_and_creation_come_back(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    answer = fhir_json(_deposit(client, who, CONTEXT))
    doc_id = answer["entry"][1]["response"]["location"].split("/")[1]
    # fhir_json checks the read resource against the R4 schema.
    read = fhir_json(client.get(f"/fhir/DocumentReference/{doc_id}", headers=who.pro))
    context = read["context"]
    for name in ("event", "facilityType", "practiceSetting", "related"):
        assert context[name] == CONTEXT[name], name
    assert context["period"]["start"] == "2026-11-02T08:30:00.000Z"
    assert read["content"][0]["format"] == FORMAT
    assert read["content"][0]["attachment"]["creation"] == "2026-11-02T09:15:00.000Z"
    found = fhir_json(
        client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": f"{INS_NIR_SYSTEM}|{who.nir}"},
            headers=who.pro,
        )
    )
    assert found["entry"][0]["resource"]["context"]["related"] == CONTEXT["related"]


def test_iti65_refuses_free_text_in_context(client: TestClient, database: Database) -> None:
    who = people(database)
    context = copy.deepcopy(CONTEXT)
    context["facilityType"]["text"] = "Labo du quartier"
    context["related"][1]["display"] = "Consultation"
    context["event"].append({"coding": [{"system": SNOMED}]})
    issues = outcome(_deposit(client, who, context), 400)
    where = locations(issues)
    base = "Bundle.entry[1].resource.context"
    assert f"{base}.facilityType.text" in where
    assert f"{base}.related[1].display" in where
    assert f"{base}.event[2].coding" in where
    assert count_documents(database, who.holder_id) == 0
