"""Issue 7 "done when": every profile section round-trips through the holder API, FHIR R4 and the
portal. For each section, one account and one client: an entry made through the holder API is
read back through FHIR (search and read by id agree, schema-valid, the elements its view promises);
sent back unchanged with PUT it keeps its content (the view loses nothing); a resource created
through FHIR (the single blood group: replaced) is read back through the holder API; the portal's
section page shows them. The holder side writes every section (ACC-7)."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet import clock
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import Database
from tests.fhir.support import fhir_json
from tests.portal.support import log_in, make_account
from tests.profile.support import API, bearer

PAST = (clock.today() - dt.timedelta(days=30)).isoformat()
LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
P = {"reference": "Patient/{patient}"}  # filled in per test


@dataclass(frozen=True)
class Case:
    """A section: its holder API body, what its FHIR view says (per resource id suffix: "" for an
    entry's only resource, "-tobacco"… for lifestyle fields), a resource written through FHIR and
    the content the holder API then shows, and texts the portal page must show."""

    section: str
    resource_type: str
    api: dict[str, Any]
    view: dict[str, dict[str, Any]]
    fhir: dict[str, Any]
    content: dict[str, Any]
    shown: tuple[str, ...]
    replaces: bool = False  # a single section: the FHIR write replaces the entry (PUT)
    extra: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "illness", "Condition",
        {"label": "Asthme d'effort", "status": "current", "since": "2001-05-01", "note": "Ventoline"},
        {"": {"code.text": "Asthme d'effort", "clinicalStatus.coding.0.code": "active",
              "category.0.coding.0.code": "problem-list-item", "onsetDateTime": "2001-05-01",
              "note.0.text": "Ventoline"}},
        {"resourceType": "Condition", "subject": P, "code": {"text": "Migraine ophtalmique"},
         "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "resolved"}]},
         "onsetDateTime": "2010-02-03"},
        {"label": "Migraine ophtalmique", "status": "past", "since": "2010-02-03"},
        ("Asthme d'effort", "Migraine ophtalmique"),
    ),
    Case(
        "treatment", "MedicationStatement",
        {"label": "Ramipril 5 mg", "atc": "C09AA05", "dosage": "1 cp le matin"},
        {"": {"medicationCodeableConcept.text": "Ramipril 5 mg", "status": "active",
              "medicationCodeableConcept.coding.0.code": "C09AA05",
              "dosage.0.text": "1 cp le matin"}},
        {"resourceType": "MedicationStatement", "status": "completed", "subject": P,
         "medicationCodeableConcept": {"text": "Doliprane 1000", "coding": [
             {"system": "https://smt.esante.gouv.fr/terminologie-cip_ucd",
              "code": "3400935955838"}]}},
        {"label": "Doliprane 1000", "cip": "3400935955838", "current": False},
        ("Ramipril 5 mg", "Doliprane 1000"),
    ),
    Case(
        "hospital_stay", "Encounter",
        {"place": "CHU de Nantes", "from": "2019-03-01", "to": "2019-03-05",
         "reason": "Appendicite"},
        {"": {"status": "finished", "class.code": "IMP",
              "class.system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
              "period.start": "2019-03-01", "period.end": "2019-03-05",
              "serviceProvider.display": "CHU de Nantes", "reasonCode.0.text": "Appendicite"}},
        {"resourceType": "Encounter", "status": "in-progress", "subject": P,
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
         "period": {"start": PAST}, "location": [{"location": {"display": "Clinique du Parc"}}],
         "reasonCode": [{"text": "Fracture du poignet"}]},
        {"place": "Clinique du Parc", "from": PAST, "to": None, "reason": "Fracture du poignet"},
        ("CHU de Nantes", "Clinique du Parc", "Fracture du poignet"),
    ),
    Case(
        "allergy", "AllergyIntolerance",
        {"substance": "Pénicilline", "reaction": "Urticaire", "severity": "moderate"},
        {"": {"code.text": "Pénicilline", "type": "allergy", "reaction.0.severity": "moderate",
              "reaction.0.manifestation.0.text": "Urticaire"}},
        {"resourceType": "AllergyIntolerance", "patient": P, "type": "intolerance",
         "code": {"text": "Lactose"}},
        {"substance": "Lactose", "type": "intolerance"},
        ("Pénicilline", "Lactose"),
    ),
    Case(
        "family_history", "FamilyMemberHistory",
        {"relative": "mother", "condition": "Diabète de type 2"},
        {"": {"relationship.coding.0.code": "MTH", "condition.0.code.text": "Diabète de type 2"}},
        {"resourceType": "FamilyMemberHistory", "status": "completed", "patient": P,
         "relationship": {"coding": [
             {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FTH"}]},
         "condition": [{"code": {"text": "Infarctus du myocarde"}}]},
        {"relative": "father", "condition": "Infarctus du myocarde"},
        ("Diabète de type 2", "Infarctus du myocarde"),
    ),
    Case(
        "vaccination", "Immunization",
        {"vaccine": "Revaxis DTP", "dose_number": 2, "booster": True, "date": PAST,
         "lot": "AB123"},
        {"": {"vaccineCode.text": "Revaxis DTP", "occurrenceDateTime": PAST, "lotNumber": "AB123",
              "protocolApplied.0.doseNumberPositiveInt": 2,
              "protocolApplied.0.series": "booster"}},
        {"resourceType": "Immunization", "status": "completed", "patient": P,
         "vaccineCode": {"text": "Priorix ROR",
                         "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "03"}]},
         "occurrenceDateTime": PAST},
        {"vaccine": "Priorix ROR", "code": "03", "date": PAST},
        ("Revaxis DTP", "Priorix ROR"),
    ),
    Case(
        "blood_group", "Observation",
        {"value": "O+"},
        {"": {"code.coding.0.code": "882-1", "code.coding.0.system": LOINC,
              "category.0.coding.0.code": "laboratory", "valueCodeableConcept.text": "O+"}},
        {"resourceType": "Observation", "status": "final", "subject": P,
         "code": {"coding": [{"system": LOINC, "code": "882-1"}]},
         "valueCodeableConcept": {"text": "AB-"}},
        {"value": "AB-"},
        ("AB-",),
        replaces=True,
    ),
    Case(
        "measurement", "Observation",
        {"kind": "weight", "value": 72.5, "date": PAST},
        {"": {"code.coding.0.code": "29463-7", "category.0.coding.0.code": "vital-signs",
              "valueQuantity.value": 72.5, "valueQuantity.code": "kg",
              "effectiveDateTime": PAST}},
        {"resourceType": "Observation", "status": "final", "subject": P,
         "code": {"coding": [{"system": LOINC, "code": "8867-4"}]}, "effectiveDateTime": PAST,
         "valueQuantity": {"value": 64, "system": "http://unitsofmeasure.org", "code": "/min"}},
        {"kind": "heart_rate", "value": 64, "unit": "/min", "date": PAST},
        ("72,5 kg", "64 /min"),
    ),
    Case(
        "lifestyle", "Observation",
        {"diet": "Végétarien", "tobacco": "Non-fumeur", "sleep": "7 h par nuit", "date": PAST},
        {
            "-diet": {"code.text": "Diet", "valueString": "Végétarien",
                      "category.0.coding.0.code": "social-history", "effectiveDateTime": PAST},
            "-sleep": {"code.text": "Sleep", "valueString": "7 h par nuit"},
            "-tobacco": {"code.coding.0.code": "72166-2", "valueString": "Non-fumeur"},
        },
        {"resourceType": "Observation", "status": "final", "subject": P,
         "category": [{"coding": [{"system": CATEGORY, "code": "social-history"}]}],
         "code": {"coding": [{"system": LOINC, "code": "11331-6"}]},
         "valueString": "Un verre le week-end", "effectiveDateTime": PAST},
        {"alcohol": "Un verre le week-end", "date": PAST, "diet": "", "tobacco": ""},
        ("Végétarien", "7 h par nuit", "Un verre le week-end"),
    ),
    Case(
        "disability", "Condition",
        {"type": "Handicap moteur", "rate": 50, "human_help": True, "since": "2015-09-01"},
        {"": {"category.0.text": "disability", "code.text": "Handicap moteur",
              "stage.0.summary.text": "50 %", "note.0.text": "Human help: yes",
              "onsetDateTime": "2015-09-01"}},
        {"resourceType": "Condition", "subject": P, "category": [{"text": "disability"}],
         "code": {"text": "Surdité partielle"}, "stage": [{"summary": {"text": "30 %"}}]},
        {"type": "Surdité partielle", "rate": 30, "human_help": False, "since": None},
        ("Handicap moteur", "Surdité partielle"),
    ),
]  # fmt: skip


def at(resource: Any, path: str) -> Any:
    for part in path.split("."):
        resource = resource[int(part)] if isinstance(resource, list) else resource.get(part)
    return resource


def _filled(value: Any, patient: str) -> Any:
    """A case's resource with the test's patient id in its references."""
    if isinstance(value, dict):
        return {k: _filled(v, patient) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, patient) for v in value]
    return value.replace("{patient}", patient) if isinstance(value, str) else value


def test_every_section_has_a_case() -> None:
    from carnet.profile import rules

    assert sorted(c.section for c in CASES) == sorted(rules.SECTIONS)


@pytest.mark.parametrize("case", CASES, ids=[c.section for c in CASES])
def test_section_round_trips_through_api_fhir_and_portal(
    client: TestClient, database: Database, case: Case
) -> None:
    holder = make_account(database)
    patient = str(holder.id)
    headers = bearer(database, Principal(PrincipalKind.HOLDER, holder.id))
    api = f"{API}/me/profile/{case.section}"

    # 1. Holder API → FHIR: search and read by id agree and say what the view promises.
    made = client.post(api, json=case.api, headers=headers)
    assert made.status_code == 201, made.text
    entry_id = made.json()["id"]
    bundle = fhir_json(client.get(f"/fhir/{case.resource_type}", params={"patient": patient},
                                  headers=headers))  # fmt: skip
    found = {r["id"].removeprefix(entry_id): r for r in (e["resource"] for e in bundle["entry"])}
    assert set(found) == set(case.view)  # only this entry's resources, ids routed by suffix
    for suffix, expected in case.view.items():
        resource = found[suffix]
        assert resource["subject" if "subject" in resource else "patient"]["reference"] == (
            f"Patient/{patient}"
        )
        assert {path: at(resource, path) for path in expected} == expected, suffix
        read = client.get(f"/fhir/{case.resource_type}/{entry_id}{suffix}", headers=headers)
        assert fhir_json(read) == resource

    # 2. The view loses nothing: PUT back unchanged, the holder API shows the same content.
    first_suffix, first = next(iter(found.items()))
    unchanged = {k: v for k, v in first.items() if k != "meta"}
    put = client.put(f"/fhir/{case.resource_type}/{first['id']}", json=unchanged, headers=headers)
    assert fhir_json(put)["meta"]["versionId"] == "2"
    assert {k: v for k, v in fhir_json(put).items() if k != "meta"} == unchanged
    again = client.get(f"{api}/{entry_id}/history", headers=headers).json()
    assert again[-1]["content"] == again[0]["content"] == made.json()["content"]

    # 3. FHIR → holder API: a resource written through FHIR is an entry of the section.
    body = _filled(case.fhir, patient)
    if case.replaces:
        written = client.put(f"/fhir/{case.resource_type}/{entry_id}{first_suffix}",
                             json=body, headers=headers)  # fmt: skip
        resource = fhir_json(written)
    else:
        written = client.post(f"/fhir/{case.resource_type}", json=body, headers=headers)
        resource = fhir_json(written, 201)
        assert written.headers["location"].endswith(f"/fhir/{case.resource_type}/{resource['id']}")
    new_id = resource["id"][:36]
    listed = {e["id"]: e for e in client.get(api, headers=headers).json()}
    assert len(listed) == (1 if case.replaces else 2)
    content = listed[new_id]["content"]
    assert {k: content.get(k) for k in case.content} == case.content
    history = client.get(f"{api}/{new_id}/history", headers=headers).json()
    assert history[-1]["changed_as"] == "self"

    # 4. The portal's section page shows both.
    log_in(client, database)
    page = client.get(f"/medical-profile/{case.section.replace('_', '-')}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    for shown in case.shown:
        assert shown in text, shown
