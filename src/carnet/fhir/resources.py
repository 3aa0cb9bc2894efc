"""Carnet → FHIR R4 JSON, the shared parts: primitives, Patient, Bundles and the CapabilityStatement.

Each domain maps its own resources in `<domain>/fhir.py` (DocumentReference in `documents.fhir`)
with these pieces. Plain dicts that validate against the official R4 JSON schema
(`tests/fhir/test_schema.py`). Rules: ID-1 (INS-NIR for patients).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from carnet import __version__, clock
from carnet.accounts.models import Holder
from carnet.accounts.rules import INS_NIR_SYSTEM, LIVE_STATES, RPPS_SYSTEM
from carnet.documents import reference

Json = dict[str, Any]

FHIR_VERSION = "4.0.1"
URI_SYSTEM = "urn:ietf:rfc:3986"  # masterIdentifier and entryUUID (MHD)
_GENDERS = {"M": "male", "F": "female"}


# -- primitives --------------------------------------------------------------------------------


def instant(value: dt.datetime) -> str:
    """An R4 `instant` (also a valid `dateTime`): UTC, milliseconds, `Z`."""
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def coding(system: str, code: str, display: str | None = None) -> Json:
    item: Json = {"system": system, "code": code}
    if display:
        item["display"] = display
    return item


def patient_reference(holder: Holder) -> Json:
    """The subject: a literal reference plus the INS-NIR identifier (ID-1), no display."""
    return {
        "reference": f"Patient/{holder.id}",
        "type": "Patient",
        "identifier": {"system": INS_NIR_SYSTEM, "value": holder.nir},
    }


def patient(holder: Holder) -> Json:
    """A holder as a Patient: INS-NIR identifier (ID-1) and the identity traits, nothing else."""
    resource: Json = {
        "resourceType": "Patient",
        "id": str(holder.id),
        "identifier": [{"use": "official", "system": INS_NIR_SYSTEM, "value": holder.nir}],
        "active": holder.state in LIVE_STATES,
        "name": [
            {
                "use": "official",
                "family": holder.birth_name,
                "given": holder.first_names.split(),
            }
        ],
        "gender": _GENDERS.get(holder.sex, "unknown"),
        "birthDate": holder.birth_date.isoformat(),
    }
    if holder.deceased_on is not None:
        resource["deceasedDateTime"] = holder.deceased_on.isoformat()
    return resource


def searchset(
    entries: Iterable[tuple[str | None, Json]],
    total: int,
    links: Sequence[tuple[str, str]],
    *,
    ignored: Sequence[str] = (),
) -> Json:
    """An ITI-67 answer: `total`, paging links and one `match` entry per resource. A resource
    with no read by id gets no `fullUrl` (it would point at nothing). The parameters a lenient
    search ignored are told in an OperationOutcome entry (search mode `outcome`)."""
    bundle: Json = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(clock.now())},
        "type": "searchset",
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links],
    }
    found = [
        {
            **({"fullUrl": full_url} if full_url else {}),
            "resource": resource,
            "search": {"mode": "match"},
        }
        for full_url, resource in entries
    ]
    if ignored:
        found.append({"resource": ignored_outcome(ignored), "search": {"mode": "outcome"}})
    if found:
        bundle["entry"] = found
    return bundle


def ignored_outcome(names: Sequence[str]) -> Json:
    """What `Prefer: handling=lenient` left out: one warning per ignored parameter."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "not-supported",
                "diagnostics": f"Unknown or unsupported search parameter {name!r}: ignored "
                "(Prefer: handling=lenient).",
                "expression": [name],
            }
            for name in names
        ],
    }


def transaction_response(entries: Sequence[Json]) -> Json:
    """An ITI-65 answer: one entry per entry of the request, in the same order."""
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "transaction-response",
        "entry": list(entries),
    }


def created_entry(
    location: str | None,
    *,
    last_modified: dt.datetime | None = None,
    resource: Json | None = None,
    full_url: str | None = None,
    status: str = "201 Created",
) -> Json:
    response: Json = {"status": status}
    if location:
        response["location"] = location
    if last_modified is not None:
        response["lastModified"] = instant(last_modified)
    entry: Json = {}
    if full_url:
        entry["fullUrl"] = full_url
    if resource is not None:
        entry["resource"] = resource
    entry["response"] = response
    return entry


# -- CapabilityStatement ------------------------------------------------------------------------


# What the API implements, per resource type: interactions and search parameters (name, type,
# documentation). `tests/fhir/test_capability.py` checks this against the routes of the app.
INTERACTIONS: dict[str, tuple[str, ...]] = {
    "DocumentReference": ("read", "update", "patch", "create", "search-type"),
    "Binary": ("read", "create"),
    "Patient": ("read", "search-type"),  # and $everything (OPERATIONS)
    "AuditEvent": ("search-type",),
    # The profile (issue 7, carnet.profile.fhir_api): writes through the decision point (ACC-7).
    "Immunization": ("read", "update", "create", "search-type"),
    "Observation": ("read", "update", "create", "search-type"),
    "AllergyIntolerance": ("read", "update", "create", "search-type"),
    "Condition": ("read", "update", "create", "search-type"),
    "MedicationStatement": ("read", "update", "create", "search-type"),
    "FamilyMemberHistory": ("read", "update", "create", "search-type"),
    "Encounter": ("read", "update", "create", "search-type"),
    "RelatedPerson": ("read", "search-type"),  # carnet.accounts.fhir_api (contacts, ACC-7)
    "ExplanationOfBenefit": ("read", "search-type"),  # carnet.reimbursements.fhir_api (SRV-4)
    "Communication": ("read", "search-type", "create"),  # carnet.messaging.fhir_api (SRV-1)
    # carnet.agenda.fhir_api (SRV-2)
    "Appointment": ("read", "search-type", "create", "update", "delete"),
}
SEARCH_PARAMETERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "DocumentReference": (
        ("patient", "reference", "Patient/<id> or <id> (ITI-67)."),
        ("subject", "reference", "Alias of patient."),
        (
            "patient.identifier",
            "token",
            f"{INS_NIR_SYSTEM}|<NIR> (INS-NIR, rule ID-1).",
        ),
        ("subject.identifier", "token", "Alias of patient.identifier."),
        ("type", "token", f"{reference.LOINC_SYSTEM}|<code> or <code>; commas mean OR."),
        ("category", "token", f"{reference.CATEGORY_SYSTEM}|<code> or <code>; commas mean OR."),
        ("date", "date", "Deposit date; prefixes eq, ge, gt, le, lt."),
        ("period", "date", "Care period (context.period); prefixes eq, ge, gt, le, lt."),
        ("author.identifier", "token", f"{RPPS_SYSTEM}|<RPPS> (rule ID-2); commas mean OR."),
        ("status", "token", "current, superseded, entered-in-error; all when absent."),
        ("_id", "token", "The DocumentReference id; commas mean OR."),
        ("_lastUpdated", "date", "meta.lastUpdated; prefixes eq, ge, gt, le, lt."),
    ),
    "Patient": (("identifier", "token", f"{INS_NIR_SYSTEM}|<NIR> (rule ID-1)."),),
    "AuditEvent": (
        ("patient", "reference", "Patient/<id> or <id>: the space whose history is read (ACC-8)."),
        ("patient.identifier", "token", f"{INS_NIR_SYSTEM}|<NIR>."),
        ("date", "date", "Europe/Paris days; prefixes ge and le."),
        ("_page", "number", "Page of 100 entries, newest first."),
    ),
    "ExplanationOfBenefit": (
        ("patient", "reference", "Patient/<id> or <id>: holder side only (SRV-4, ACC-7)."),
        ("patient.identifier", "token", f"{INS_NIR_SYSTEM}|<NIR>."),
        ("_page", "number", "Page of 50 lines, newest care first."),
    ),
    "Communication": (
        ("patient", "reference", "Patient/<id> or <id>: messages of your conversations (SRV-1)."),
        ("patient.identifier", "token", f"{INS_NIR_SYSTEM}|<NIR>."),
        ("_id", "token", "The message id; commas mean OR, repeats AND."),
    ),
    "Appointment": (
        ("patient", "reference", "Patient/<id> or <id>: professionals see the ones they entered."),
        ("patient.identifier", "token", f"{INS_NIR_SYSTEM}|<NIR> (INS-NIR, rule ID-1)."),
        (
            "date",
            "date",
            "Start of the appointment; prefixes eq, ge, gt, le, lt; repeats mean AND.",
        ),
        ("_id", "token", "The resource id; commas mean OR, repeats AND."),
        ("_lastUpdated", "date", "meta.lastUpdated; prefixes eq, ge, gt, le, lt."),
    ),
}
_COMMON = (
    ("_id", "token", "The resource id; commas mean OR, repeats AND."),
    ("_lastUpdated", "date", "meta.lastUpdated; prefixes eq, ge, gt, le, lt."),
)
_PROFILE_PATIENT = (
    ("patient", "reference", "Patient/<id> or <id> (ACC-7 applies)."),
    ("patient.identifier", "token", f"{INS_NIR_SYSTEM}|<NIR> (INS-NIR, rule ID-1)."),
    *_COMMON,
)
_DATE = "Europe/Paris days; prefixes eq, ge, gt, le, lt."
SEARCH_PARAMETERS.update(
    {
        "Immunization": (
            *_PROFILE_PATIENT,
            ("date", "date", f"occurrenceDateTime; {_DATE}"),
            ("vaccine-code", "token", "http://hl7.org/fhir/sid/cvx|<code> or <code>; commas OR."),
        ),
        "Observation": (
            *_PROFILE_PATIENT,
            (
                "code",
                "token",
                "http://loinc.org|<code> or <code>; commas mean OR (measurements, BMI 39156-5, "
                "blood group 882-1, tobacco 72166-2, alcohol 11331-6).",
            ),
            (
                "category",
                "token",
                "http://terminology.hl7.org/CodeSystem/observation-category|<code> (vital-signs, "
                "laboratory, survey, activity, social-history); commas mean OR.",
            ),
            ("date", "date", f"effectiveDateTime; {_DATE}"),
        ),
        "AllergyIntolerance": _PROFILE_PATIENT,
        "Condition": (*_PROFILE_PATIENT, ("onset-date", "date", f"onsetDateTime; {_DATE}")),
        "Encounter": (*_PROFILE_PATIENT, ("date", "date", f"period start; {_DATE}")),
        "MedicationStatement": (
            *_PROFILE_PATIENT,
            (
                "code",
                "token",
                "http://www.whocc.no/atc|<ATC> or https://smt.esante.gouv.fr/terminologie-cip_ucd"
                "|<CIP>; commas mean OR.",
            ),
            ("effective", "date", f"effectiveDateTime; {_DATE}"),
        ),
        "FamilyMemberHistory": (
            *_PROFILE_PATIENT,
            (
                "relationship",
                "token",
                "http://terminology.hl7.org/CodeSystem/v3-RoleCode|<code> (MTH, FTH, SIS…).",
            ),
        ),
        "RelatedPerson": (
            *_PROFILE_PATIENT,
            (
                "relationship",
                "token",
                "http://terminology.hl7.org/CodeSystem/v2-0131|C (emergency contacts) or "
                "https://carnet.example/fhir/CodeSystem/contact-role|trusted-person.",
            ),
        ),
    }
)
# Operations, per resource type: (name, canonical definition).
OPERATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "Patient": (("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"),),
}
RESULT_PARAMETERS = ("_count", "_offset", "_sort")


def capability_statement(base_url: str) -> Json:
    """`GET /fhir/metadata`: exactly the resources, interactions and parameters implemented."""
    resources: list[Json] = []
    for resource_type, interactions in INTERACTIONS.items():
        item: Json = {
            "type": resource_type,
            "interaction": [{"code": code} for code in interactions],
        }
        if resource_type == "DocumentReference":
            item["versioning"] = "no-version"
            item["updateCreate"] = False
            item["conditionalCreate"] = False
            item["conditionalUpdate"] = False
            item["conditionalDelete"] = "not-supported"
        params = SEARCH_PARAMETERS.get(resource_type, ())
        if params:
            item["searchParam"] = [
                {"name": name, "type": kind, "documentation": doc} for name, kind, doc in params
            ]
        operations = OPERATIONS.get(resource_type, ())
        if operations:
            item["operation"] = [
                {"name": name, "definition": definition} for name, definition in operations
            ]
        resources.append(item)
    return {
        "resourceType": "CapabilityStatement",
        "id": "carnet",
        "url": f"{base_url}/fhir/metadata",
        "version": __version__,
        "name": "CarnetFhirServer",
        "title": "Carnet FHIR R4 API (IHE MHD Document Recipient and Responder)",
        "status": "active",
        "experimental": False,
        "date": "2026-11-25",
        "publisher": "Carnet",
        "description": (
            "IHE MHD: ITI-65 Provide Document Bundle (transaction), ITI-67 Find Document "
            "References, ITI-68 Retrieve Document; metadata updates of status and securityLabel "
            "(PUT, or PATCH as JSON Patch or FHIRPath Patch, also conditional on identifier). "
            f"Results: {', '.join(RESULT_PARAMETERS)} (_count at most 500); unknown search "
            "parameters are refused (400), or ignored and listed in an OperationOutcome entry "
            "with Prefer: handling=lenient."
        ),
        "kind": "instance",
        "software": {"name": "Carnet", "version": __version__},
        "implementation": {"description": "Carnet", "url": f"{base_url}/fhir"},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                coding(
                                    "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "OAuth",
                                )
                            ],
                            "text": "Bearer tokens (Authorization: Bearer …).",
                        },
                        {
                            "coding": [
                                coding(
                                    "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "SMART-on-FHIR",
                                )
                            ],
                            "text": "Apps: SMART App Launch v2, authorization code with PKCE "
                            "(discovery at .well-known/smart-configuration).",
                        },
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/"
                            "oauth-uris",
                            "extension": [
                                {"url": "authorize", "valueUri": f"{base_url}/oauth/authorize"},
                                {"url": "token", "valueUri": f"{base_url}/oauth/token"},
                                {"url": "revoke", "valueUri": f"{base_url}/oauth/revoke"},
                                {"url": "introspect", "valueUri": f"{base_url}/oauth/introspect"},
                            ],
                        }
                    ],
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}],
            }
        ],
    }
