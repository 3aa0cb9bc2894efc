"""Identifiers of the XDS metadata model (note §2, §3) and the codes Carnet reads in it."""

from __future__ import annotations

import re

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"

AUTHOR_SCHEME = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
CLASS_SCHEME = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
CONFIDENTIALITY_SCHEME = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
FORMAT_SCHEME = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
TYPE_SCHEME = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
UNIQUE_ID_SCHEME = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
PATIENT_ID_SCHEME = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
SUBMISSION_PATIENT_ID_SCHEME = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"

STABLE_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
ON_DEMAND_ENTRY = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
LIMITED_METADATA = "urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85"

LOINC_OID = "2.16.840.1.113883.6.1"
HL7_CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"
TRE_A07_OID = "1.2.250.1.213.1.1.4.13"
RPPS_OID = "1.2.250.1.71.4.2.1"  # rule ID-2

# Assigning authorities of a patientId (note §4.1; rule ID-1 for .8 and .9).
INS_NIR_OID = "1.2.250.1.213.1.4.8"
INS_NIA_OID = "1.2.250.1.213.1.4.9"
INS_TEST_OID = "1.2.250.1.213.1.4.10"
INS_DEMO_OID = "1.2.250.1.213.1.4.11"
INS_C_OID = "1.2.250.1.213.1.4.2"

# DOC-2 flags from TRE_A07 visibility codes (note §4.3).
MASKED_TO_PROFESSIONALS = "MASQUE_PS"
INVISIBLE_TO_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_TO_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"
A07_FLAGS = frozenset({MASKED_TO_PROFESSIONALS, INVISIBLE_TO_PATIENT, INVISIBLE_TO_REPRESENTATIVES})
V3_LEVELS = frozenset({"N", "R", "V"})

# Signatures are not clinical documents (note §6.3 item 19).
SIGNATURE_TYPE_CODES = frozenset({"E1762"})
SIGNATURE_FORMAT_MARKERS = ("urn:ihe:iti:dsg:", "xmldsig")

_CODE_SAFE_RE = re.compile(r"[^A-Za-z0-9._:/-]")


def safe_code(value: str, limit: int = 40) -> str:
    """A code or identifier fit for the report: printable, no separators, bounded."""
    return _CODE_SAFE_RE.sub("?", value)[:limit]
