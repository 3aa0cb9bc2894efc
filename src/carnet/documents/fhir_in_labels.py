"""FHIR security labels → Carnet document flags (DOC-2…DOC-4), and the metadata update (`PUT`,
or `PATCH` as PDSm's flux 03: JSON Patch or FHIRPath Patch, applied to the stored resource).

A DocumentReference's `securityLabel` is read at a deposit (`documents.fhir_in`) and when its author
changes it; a metadata update may change only those labels and the status (DOC-4, DOC-6). Nothing
here touches the database; problems are collected as `carnet.fhir.parse` says.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer

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


# -- PATCH (PDSm flux 03: metadata update) ----------------------------------------------------

JSON_PATCH = "json-patch"  # RFC 6902, application/json-patch+json
FHIRPATH_PATCH = "fhirpath-patch"  # FHIR R4 FHIRPath Patch, a Parameters resource
PATCHABLE = ("/status", "/securityLabel")
ARCHIVED_EXTENSION = "PDSm-isArchived"


def patched(stored: Json, kind: str, patch: Any) -> Json:
    """The stored DocumentReference with `patch` applied, to be checked as a PUT body is
    (`security_change`). PDSm lets a producer change status, securityLabel and its archive flag:
    Carnet has no archive for professionals' documents, so that one is refused, as is any other
    element (422); a malformed patch is a 400. Nothing is applied unless everything is."""
    if kind == JSON_PATCH:
        return _json_patched(stored, patch)
    return _fhirpath_patched(stored, patch)


def _json_patched(stored: Json, patch: Any) -> Json:
    problems = Problems()
    operations = patch if isinstance(patch, list) else None
    if operations is None:
        problems.add("Patch", "A JSON Patch is an array of operations (RFC 6902).", "structure")
        problems.raise_if_any()
        raise AssertionError("unreachable")
    refused = Problems()
    for index, operation in enumerate(operations):
        where = f"Patch[{index}]"
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            problems.add(where, "Each operation has an op and a path.", "structure")
            continue
        _check_path(operation["path"], f"{where}.path", refused)
        if operation.get("op") in ("move", "copy") and isinstance(operation.get("from"), str):
            _check_path(operation["from"], f"{where}.from", refused)
    problems.raise_if_any()
    refused.raise_if_any(status=422)
    try:
        result = jsonpatch.apply_patch(stored, operations)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        problems.add("Patch", f"The patch does not apply: {error}.", "processing")
        problems.raise_if_any()
        raise AssertionError("unreachable") from None
    patched_resource: Json = result
    return patched_resource


def _check_path(path: str, where: str, refused: Problems) -> None:
    if ARCHIVED_EXTENSION in path or path.startswith("/extension"):
        refused.add(
            where,
            "Carnet does not archive professionals' documents: the archive flag cannot be set.",
            "not-supported",
        )
    elif not any(path == allowed or path.startswith(allowed + "/") for allowed in PATCHABLE):
        refused.add(
            where,
            "Only status and securityLabel can be changed by a metadata update.",
            "business-rule",
        )


def _fhirpath_patched(stored: Json, patch: Any) -> Json:
    """The FHIRPath Patch operations a metadata update needs, applied in order: replace
    `DocumentReference.status`, add a `securityLabel`, delete `DocumentReference.securityLabel[n]`."""
    problems = Problems()
    resource = json_object(patch, "Parameters", problems, required=True) or {}
    if resource and resource.get("resourceType") != "Parameters":
        problems.add("Parameters.resourceType", "A FHIRPath Patch is a Parameters.", "structure")
    result = copy.deepcopy(stored)
    labels: list[Any] = result.setdefault("securityLabel", [])
    for _i, where, operation in json_objects(
        resource.get("parameter"), "Parameters.parameter", problems
    ):
        parts = {
            part.get("name"): part
            for _j, _w, part in json_objects(operation.get("part"), f"{where}.part", problems)
        }
        kind = parts.get("type", {}).get("valueCode")
        path = parts.get("path", {}).get("valueString")
        name = parts.get("name", {}).get("valueString")
        index = _label_index(path, len(labels))
        if kind == "replace" and path == "DocumentReference.status":
            result["status"] = parts.get("value", {}).get("valueCode")
        elif kind == "add" and path == "DocumentReference" and name == "securityLabel":
            labels.append(parts.get("value", {}).get("valueCodeableConcept"))
        elif kind == "delete" and index is not None:
            del labels[index]
        else:
            problems.add(
                f"{where}.part",
                "Carnet applies: replace DocumentReference.status, add DocumentReference "
                "securityLabel, delete DocumentReference.securityLabel[n].",
                "not-supported",
            )
    problems.raise_if_any(status=422)
    if not labels:
        del result["securityLabel"]
    return result


def _label_index(path: Any, count: int) -> int | None:
    prefix = "DocumentReference.securityLabel["
    if not (isinstance(path, str) and path.startswith(prefix) and path.endswith("]")):
        return None
    text = path[len(prefix) : -1]
    return int(text) if text.isdigit() and int(text) < count else None
