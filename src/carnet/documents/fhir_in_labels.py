"""FHIR security labels → Carnet document flags (DOC-2…DOC-4), and the metadata update (`PUT`).

A DocumentReference's `securityLabel` is read at a deposit (`documents.fhir_in`) and when its author
changes it; a metadata update may change only those labels and the status (DOC-4, DOC-6). Nothing
here touches the database; problems are collected as `carnet.fhir.parse` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carnet.documents.changes import SecurityChange
from carnet.documents.fhir import (
    CONFIDENTIALITY_SYSTEM,
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTATIVES,
    MASKED,
    VISIBILITY_SYSTEMS,
)
from carnet.fhir.parse import Json, Problems, json_object, json_objects, text_value


@dataclass(frozen=True)
class Flags:
    masked: bool = False
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False


_VISIBILITY_CODES = {
    MASKED: "masked",
    INVISIBLE_PATIENT: "invisible_to_patient",
    INVISIBLE_REPRESENTATIVES: "invisible_to_representatives",
}
_CONFIDENTIALITY_CODES = frozenset({"U", "L", "M", "N", "R", "V"})


def security_flags(value: Any, path: str, problems: Problems) -> Flags:
    """TRE_A07 codes → DOC-2 flags; v3 Confidentiality codes are accepted; other systems ignored."""
    seen: set[str] = set()
    for _i, label_path, label in json_objects(value, path, problems):
        for _j, coding_path, item in json_objects(
            label.get("coding"), f"{label_path}.coding", problems
        ):
            system, code = text_value(item.get("system")), text_value(item.get("code"))
            if system in VISIBILITY_SYSTEMS:
                if code not in _VISIBILITY_CODES:
                    known = ", ".join(_VISIBILITY_CODES)
                    problems.add(
                        f"{coding_path}.code",
                        f"Unsupported visibility code {code!r} (TRE_A07: {known}).",
                        "code-invalid",
                    )
                    continue
                seen.add(_VISIBILITY_CODES[code])
            elif system == CONFIDENTIALITY_SYSTEM and code not in _CONFIDENTIALITY_CODES:
                problems.add(
                    f"{coding_path}.code", f"Unknown confidentiality code {code!r}.", "code-invalid"
                )
    return Flags(
        masked="masked" in seen,
        invisible_to_patient="invisible_to_patient" in seen,
        invisible_to_representatives="invisible_to_representatives" in seen,
    )


# What a metadata update may change; anything else differing from the stored resource is refused.
UPDATABLE = frozenset({"status", "securityLabel", "meta", "text"})


def security_change(stored: Json, body: Any, doc_id: str) -> SecurityChange:
    """Compare a PUT body with the stored DocumentReference: only `status` (→ entered-in-error)
    and `securityLabel` may differ (DOC-4, DOC-6). Raise 400 for a malformed body, 422 listing
    the other elements that were changed."""
    problems = Problems()
    resource = json_object(body, "DocumentReference", problems, required=True) or {}
    if resource and resource.get("resourceType") != "DocumentReference":
        problems.add("DocumentReference.resourceType", "Expected a DocumentReference.", "structure")
    if resource and resource.get("id") != doc_id:
        problems.add("DocumentReference.id", "The id must be the one in the URL.", "value")
    new_flags = security_flags(
        resource.get("securityLabel"), "DocumentReference.securityLabel", problems
    )
    problems.raise_if_any()

    changed = sorted(
        key
        for key in set(stored) | set(resource)
        if key not in UPDATABLE and stored.get(key) != resource.get(key)
    )
    for key in changed:
        problems.add(
            f"DocumentReference.{key}",
            "Only status and securityLabel can be changed by a metadata update.",
            "business-rule",
        )
    change = SecurityChange()
    status = resource.get("status")
    if status != stored.get("status"):
        if status == "entered-in-error":
            change.status = status
        else:
            problems.add(
                "DocumentReference.status",
                "A document's status can only become entered-in-error (rule DOC-6).",
                "business-rule",
            )
    problems.raise_if_any(status=422)
    old_flags = security_flags(stored.get("securityLabel"), "stored", Problems())
    if new_flags.masked != old_flags.masked:
        change.masked = new_flags.masked
    if new_flags.invisible_to_patient != old_flags.invisible_to_patient:
        change.invisible_to_patient = new_flags.invisible_to_patient
    if new_flags.invisible_to_representatives != old_flags.invisible_to_representatives:
        change.invisible_to_representatives = new_flags.invisible_to_representatives
    return change
