"""Carnet documents → FHIR R4 JSON: DocumentReference, Binary and the ITI-65 submission set (IHE MHD).

Plain dicts, built only from what Carnet stores, and only with elements that validate against the
official R4 JSON schema (`tests/fhir/test_schema.py` checks every kind emitted). Rules: ID-1 (INS-NIR
for patients), ID-2 (RPPS for authors), DOC-1 (LOINC type, category, size, SHA-1 `hash`), DOC-2…DOC-4
(security labels), DOC-6 (status, `relatesTo` replaces).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence

from carnet import clock
from carnet.access.rules import visible_to_patient
from carnet.accounts.models import Holder
from carnet.accounts.rules import RPPS_SYSTEM
from carnet.documents import reference
from carnet.documents.models import Document
from carnet.documents.service import facts
from carnet.fhir.resources import URI_SYSTEM, Json, coding, instant, patient_reference

CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
# TRE_A07 "statut de visibilité du document" (ANS), as an OID; the canonical URL is accepted too.
VISIBILITY_SYSTEM = "urn:oid:1.2.250.1.213.1.1.4.13"
VISIBILITY_SYSTEM_URL = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
    "TRE-A07-StatutVisibiliteDocument"
)
VISIBILITY_SYSTEMS = frozenset({VISIBILITY_SYSTEM, VISIBILITY_SYSTEM_URL})
MASKED = "MASQUE_PS"  # DOC-3: masked to professionals
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"  # DOC-4: awaiting the announcement consultation
INVISIBLE_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"  # REP-2
VISIBILITY_DISPLAY = {
    MASKED: "Masqué aux professionnels de santé",
    INVISIBLE_PATIENT: "Non visible par le patient",
    INVISIBLE_REPRESENTATIVES: "Non visible par les représentants légaux du patient",
}
IHE_FORMAT_SYSTEM = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
SUBMISSION_SET_SYSTEM = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
DOCUMENT_STATUSES = ("current", "superseded", "entered-in-error")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def security_labels(doc: Document, now: dt.datetime | None = None) -> list[Json]:
    """DOC-2: v3 confidentiality `N` plus a TRE_A07 code per flag that applies."""
    labels: list[Json] = [
        {"coding": [coding(CONFIDENTIALITY_SYSTEM, "N", "normal")]},
    ]
    codes: list[str] = []
    if doc.masked:
        codes.append(MASKED)
    if not visible_to_patient(facts(doc), now or clock.now()):
        codes.append(INVISIBLE_PATIENT)
    if doc.invisible_to_representatives:
        codes.append(INVISIBLE_REPRESENTATIVES)
    labels += [
        {"coding": [coding(VISIBILITY_SYSTEM, code, VISIBILITY_DISPLAY[code])]} for code in codes
    ]
    return labels


def _author(doc: Document) -> list[Json]:
    if doc.author_rpps:
        return [
            {
                "type": "Practitioner",
                "identifier": {"system": RPPS_SYSTEM, "value": doc.author_rpps},
            }
        ]
    if doc.author_kind == "holder" and doc.author_id is not None:
        if doc.author_id == doc.holder_id:
            return [{"reference": f"Patient/{doc.holder_id}", "type": "Patient"}]
        return [{"type": "RelatedPerson"}]  # a representative or caregiver, not named here
    return []


def document_reference(
    doc: Document, title: str, holder: Holder, *, base: str, now: dt.datetime | None = None
) -> Json:
    """One Carnet document as an MHD DocumentReference (its id is the Carnet document id).

    `base` is Carnet's FHIR base (`fhir.service.fhir_base`): `attachment.url` must be an absolute
    URL (strict R4 parsers refuse a relative one), the ITI-68 address of the bytes."""
    master: Json = {"value": doc.master_identifier}
    if doc.master_identifier_system:
        master = {"system": doc.master_identifier_system, "value": doc.master_identifier}
    elif _URI.match(doc.master_identifier):
        master = {"system": URI_SYSTEM, "value": doc.master_identifier}
    resource: Json = {
        "resourceType": "DocumentReference",
        "id": str(doc.id),
        "meta": {"lastUpdated": instant(doc.updated_at)},
        "masterIdentifier": master,
        "identifier": [{"use": "official", "system": URI_SYSTEM, "value": f"urn:uuid:{doc.id}"}],
        "status": doc.status,
        "docStatus": "final",
    }
    if doc.type_code:
        known = reference.document_types().get(doc.type_code)
        resource["type"] = {
            "coding": [
                coding(reference.LOINC_SYSTEM, doc.type_code, known.label_fr if known else None)
            ]
        }
    category = reference.categories().get(doc.category)
    resource["category"] = [
        {
            "coding": [
                coding(
                    reference.CATEGORY_SYSTEM,
                    doc.category,
                    category.label_fr if category else None,
                )
            ]
        }
    ]
    resource["subject"] = patient_reference(holder)
    resource["date"] = instant(doc.deposited_at)
    authors = _author(doc)
    if authors:
        resource["author"] = authors
    if doc.replaces_id is not None:
        resource["relatesTo"] = [
            {"code": "replaces", "target": {"reference": f"DocumentReference/{doc.replaces_id}"}}
        ]
    resource["description"] = title
    resource["securityLabel"] = security_labels(doc, now)
    attachment: Json = {"contentType": doc.mime_type}
    if doc.language:
        attachment["language"] = doc.language
    attachment.update(
        {
            "url": f"{base}/Binary/{doc.id}",
            "size": doc.size,
            "hash": sha1_base64(doc.sha1),
            "title": title,
        }
    )
    if doc.created_at is not None:
        attachment["creation"] = instant(doc.created_at)
    content: Json = {"attachment": attachment}
    if doc.format_code:
        content["format"] = format_coding(doc.format_code)
    resource["content"] = [content]
    context: Json = json.loads(doc.context_codes) if doc.context_codes else {}
    period: Json = context.pop("period", {})  # the parts given at date precision, as given
    if doc.period_start is not None:
        period.setdefault("start", instant(doc.period_start))
    elif doc.care_date is not None:
        period.setdefault("start", doc.care_date.isoformat())
    if doc.period_end is not None:
        period.setdefault("end", instant(doc.period_end))
    if "sourcePatientInfo" in context:
        context["sourcePatientInfo"] = patient_reference(holder)
    if period:
        context = {"period": period, **context}
    if context:
        resource["context"] = context
    return resource


def binary(doc: Document, content: bytes) -> Json:
    """ITI-68 in FHIR JSON form: the content base64-encoded, tied to its DocumentReference."""
    return {
        "resourceType": "Binary",
        "id": str(doc.id),
        "contentType": doc.mime_type,
        "securityContext": {"reference": f"DocumentReference/{doc.id}"},
        "data": base64.b64encode(content).decode("ascii"),
    }


def staged_binary(binary_id: uuid.UUID, content_type: str, holder: Holder) -> Json:
    """What `POST /fhir/Binary` answers: the staged Binary without its data."""
    return {
        "resourceType": "Binary",
        "id": str(binary_id),
        "contentType": content_type,
        "securityContext": patient_reference(holder),
    }


def sha1_base64(sha1_hex: str) -> str:
    """R4 `Attachment.hash`: the base64 of the 20 SHA-1 bytes (not of the hex string)."""
    return base64.b64encode(bytes.fromhex(sha1_hex)).decode("ascii")


def format_coding(format_code: str) -> Json:
    """`content.format`: IHE format codes get their code system; others are given as a bare code
    (Carnet keeps the code only, as XDS formatCode carries it)."""
    if format_code.startswith("urn:ihe:"):
        return {"system": IHE_FORMAT_SYSTEM, "code": format_code}
    return {"code": format_code}


def submission_set(
    list_id: uuid.UUID,
    holder: Holder,
    documents: Sequence[Document],
    *,
    identifiers: Sequence[Json] = (),
    when: dt.datetime | None = None,
) -> Json:
    """The ITI-65 submission set as accepted: an MHD `List` pointing at the stored documents."""
    resource: Json = {
        "resourceType": "List",
        "id": str(list_id),
        "identifier": [
            {"use": "official", "system": URI_SYSTEM, "value": f"urn:uuid:{list_id}"},
            *identifiers,
        ],
        "status": "current",
        "mode": "working",
        "code": {"coding": [coding(SUBMISSION_SET_SYSTEM, "submissionset", "Submission Set")]},
        "subject": patient_reference(holder),
        "date": instant(when or clock.now()),
    }
    if documents:
        resource["entry"] = [
            {"item": {"reference": f"DocumentReference/{doc.id}"}} for doc in documents
        ]
    return resource
