"""FHIR JSON → Carnet documents: the ITI-65 Provide Document Bundle (transaction), all documents
or none (DOC-1 metadata, ID-1 subject, ID-2 author).

The Bundle's shape, its submission set (List) and how its entries refer to each other; each
DocumentReference and Binary is read by `documents.fhir_in`. Problems are collected, then raised at
once (see `carnet.fhir.parse`).

A replacement may also carry the IHE MHD PATCH entry (`Parameters`, profile
IHE.MHD.Patch.Parameters) setting the old DocumentReference's status to `superseded`, as the French
national profile (ANS PDSm) sends it. Carnet supersedes the old version itself when the new one
says `relatesTo: replaces` (DOC-6), so the only PATCH accepted is that one, on the document a
DocumentReference of the same Bundle replaces; any other change is refused, never half-applied.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from carnet.documents.fhir_in import (
    BinaryEntry,
    ParsedDocument,
    binary_resource,
    document_reference,
)
from carnet.fhir.parse import (
    Json,
    Problems,
    SubjectRef,
    json_array,
    json_object,
    json_objects,
    json_string,
    subject_reference,
    text_value,
    uuid_of,
)


@dataclass
class ParsedBundle:
    """A valid ITI-65 Bundle: the submission set, the documents and where each entry was."""

    kinds: list[str]  # resourceType of each entry, in order
    full_urls: list[str | None]
    list_index: int
    list_identifiers: list[Json]
    list_subject: SubjectRef | None
    documents: list[tuple[int, ParsedDocument]]  # (entry index, document)
    binary_owner: dict[int, int]  # Binary entry index → DocumentReference entry index
    superseded: dict[int, uuid.UUID] = field(default_factory=dict)  # PATCH entry → old document


SUPPORTED = ("List", "DocumentReference", "Binary", "Parameters")
PATCH_PROFILE = "IHE.MHD.Patch.Parameters"


def transaction_bundle(body: Any, *, limit: int, timezone: str) -> ParsedBundle:
    """Check an ITI-65 Provide Document Bundle; raise InvalidResource listing every problem.

    The entries' shape first, then the Binaries, the DocumentReferences (which use them) and the
    List (which lists them): each step needs the ones before."""
    problems = Problems()
    bundle = json_object(body, "Bundle", problems, required=True)
    if bundle is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")
    if bundle.get("resourceType") != "Bundle":
        problems.add("Bundle.resourceType", "Expected a Bundle.", "structure")
    if bundle.get("type") != "transaction":
        problems.add("Bundle.type", "ITI-65 needs a Bundle of type transaction.", "value")
    found = _Entries()
    seen_urls: dict[str, int] = {}
    entries = json_array(bundle.get("entry"), "Bundle.entry", problems, required=True)
    for index, raw in enumerate(entries):
        _read_entry(raw, index, found, seen_urls, problems)
    binaries, binary_index = _binaries(found, problems, limit)
    documents, binary_owner = _documents(found, binaries, binary_index, problems, limit, timezone)
    list_index, list_identifiers, list_subject = _submission_set_entry(found, documents, problems)
    superseded = _patches(found, documents, problems)
    problems.raise_if_any()
    return ParsedBundle(
        kinds=found.kinds,
        full_urls=found.full_urls,
        list_index=list_index,
        list_identifiers=list_identifiers,
        list_subject=list_subject,
        documents=documents,
        binary_owner=binary_owner,
        superseded=superseded,
    )


@dataclass
class _Entries:
    """The entries as read so far: kind and fullUrl of each, the supported resources by index."""

    kinds: list[str] = field(default_factory=list)
    full_urls: list[str | None] = field(default_factory=list)
    resources_at: dict[int, Json] = field(default_factory=dict)
    patch_urls: dict[int, str] = field(default_factory=dict)  # PATCH entry → its request.url


def _read_entry(
    raw: Any, index: int, found: _Entries, seen_urls: dict[str, int], problems: Problems
) -> None:
    """One entry: a unique fullUrl, a supported resource, `request` POST to its type."""
    path = f"Bundle.entry[{index}]"
    entry = json_object(raw, path, problems, required=True)
    if entry is None:
        found.full_urls.append(None)
        found.kinds.append("")
        return
    full_url = json_string(entry.get("fullUrl"), f"{path}.fullUrl", problems, required=True)
    if full_url is not None:
        if full_url in seen_urls:
            problems.add(
                f"{path}.fullUrl",
                f"Same fullUrl as Bundle.entry[{seen_urls[full_url]}].",
                "duplicate",
            )
        seen_urls.setdefault(full_url, index)
    found.full_urls.append(full_url)
    resource = json_object(entry.get("resource"), f"{path}.resource", problems, required=True)
    kind = resource.get("resourceType") if resource else None
    found.kinds.append(kind if isinstance(kind, str) else "")
    if resource is None:
        return
    if kind not in SUPPORTED:
        problems.add(
            f"{path}.resource.resourceType",
            f"Unsupported resource {kind!r} in an ITI-65 Bundle "
            "(List, DocumentReference, Binary, Parameters of an MHD PATCH).",
            "not-supported",
        )
        return
    found.resources_at[index] = resource
    request = json_object(entry.get("request"), f"{path}.request", problems, required=True)
    if request is None:
        return
    if kind == "Parameters":
        if request.get("method") != "PATCH":
            problems.add(f"{path}.request.method", "A Parameters entry is a PATCH.", "value")
        url = request.get("url")
        if not isinstance(url, str) or uuid_of(url, "DocumentReference") is None:
            problems.add(
                f"{path}.request.url", "Expected DocumentReference/<id> of Carnet.", "value"
            )
        else:
            found.patch_urls[index] = url
        return
    if request.get("method") != "POST":
        problems.add(f"{path}.request.method", "Expected POST.", "value")
    if request.get("url") != kind:
        problems.add(f"{path}.request.url", f"Expected {kind}.", "value")


def _binaries(
    found: _Entries, problems: Problems, limit: int
) -> tuple[dict[str, BinaryEntry], dict[str, int]]:
    """The Binary entries decoded, by fullUrl, and the index of each."""
    binaries: dict[str, BinaryEntry] = {}
    binary_index: dict[str, int] = {}
    for index, resource in found.resources_at.items():
        if found.kinds[index] == "Binary":
            entry_binary = binary_resource(
                resource, f"Bundle.entry[{index}].resource", problems, limit
            )
            url = found.full_urls[index]
            if url is not None:
                binaries[url] = entry_binary
                binary_index[url] = index
    return binaries, binary_index


def _documents(
    found: _Entries,
    binaries: dict[str, BinaryEntry],
    binary_index: dict[str, int],
    problems: Problems,
    limit: int,
    timezone: str,
) -> tuple[list[tuple[int, ParsedDocument]], dict[int, int]]:
    """The DocumentReferences, each Binary the content of one of them, masterIdentifiers unique."""
    documents: list[tuple[int, ParsedDocument]] = []
    binary_owner: dict[int, int] = {}
    masters: dict[str, int] = {}
    for index, resource in found.resources_at.items():
        if found.kinds[index] != "DocumentReference":
            continue
        path = f"Bundle.entry[{index}].resource"
        parsed = document_reference(
            resource, path, problems, limit=limit, timezone=timezone, binaries=binaries
        )
        documents.append((index, parsed))
        if parsed.binary_url is not None:
            owner_index = binary_index[parsed.binary_url]
            if owner_index in binary_owner:
                problems.add(
                    f"{parsed.content_path}.url",
                    f"Bundle.entry[{owner_index}] is already the content of "
                    f"Bundle.entry[{binary_owner[owner_index]}].",
                    "duplicate",
                )
            binary_owner.setdefault(owner_index, index)
        master = parsed.new.master_identifier
        if master is not None:
            if master in masters:
                problems.add(
                    f"{path}.masterIdentifier.value",
                    f"Same masterIdentifier as Bundle.entry[{masters[master]}].",
                    "duplicate",
                )
            masters.setdefault(master, index)
    if not documents:
        problems.add("Bundle.entry", "At least one DocumentReference is required.", "required")
    for url, index in binary_index.items():
        if index not in binary_owner:
            problems.add(
                f"Bundle.entry[{index}]",
                f"No DocumentReference uses this Binary ({url}).",
                "invalid",
            )
    return documents, binary_owner


def _submission_set_entry(
    found: _Entries, documents: list[tuple[int, ParsedDocument]], problems: Problems
) -> tuple[int, list[Json], SubjectRef | None]:
    """Exactly one List: its index, identifiers and subject (-1, [], None when there is none)."""
    lists = [index for index in found.resources_at if found.kinds[index] == "List"]
    list_index = -1
    list_identifiers: list[Json] = []
    list_subject: SubjectRef | None = None
    if len(lists) != 1:
        problems.add(
            "Bundle.entry",
            f"Exactly one List (the submission set) is required, found {len(lists)}.",
            "required" if not lists else "invalid",
        )
    if lists:
        list_index = lists[0]
        document_urls = {found.full_urls[i]: i for i, _d in documents}
        list_identifiers, list_subject = _submission_set(
            found.resources_at[list_index],
            f"Bundle.entry[{list_index}].resource",
            problems,
            document_urls,
        )
    return list_index, list_identifiers, list_subject


def _submission_set(
    resource: Json, path: str, problems: Problems, document_urls: dict[str | None, int]
) -> tuple[list[Json], SubjectRef | None]:
    """The MHD submission set: status current, mode working, one entry per DocumentReference."""
    if resource.get("status") != "current":
        problems.add(f"{path}.status", "A submission set has status current.", "value")
    if resource.get("mode") != "working":
        problems.add(f"{path}.mode", "A submission set has mode working.", "value")
    subject = (
        subject_reference(resource["subject"], f"{path}.subject", problems)
        if resource.get("subject") is not None
        else None
    )
    listed: set[int] = set()
    for _i, where, entry in json_objects(resource.get("entry"), f"{path}.entry", problems):
        item = json_object(entry.get("item"), f"{where}.item", problems, required=True)
        literal = text_value(item.get("reference")) if item else None
        if literal not in document_urls:
            problems.add(
                f"{where}.item.reference",
                "Expected the fullUrl of a DocumentReference of this Bundle.",
                "value",
            )
            continue
        listed.add(document_urls[literal])
    for url, index in document_urls.items():
        if index not in listed:
            problems.add(
                f"{path}.entry",
                f"The submission set does not list Bundle.entry[{index}] ({url}).",
                "invalid",
            )
    identifiers: list[Json] = []
    for _i, _where, ident in json_objects(
        resource.get("identifier"), f"{path}.identifier", problems
    ):
        system, value = ident.get("system"), ident.get("value")
        if isinstance(value, str) and value and (system is None or isinstance(system, str)):
            identifiers.append({"system": system, "value": value} if system else {"value": value})
    return identifiers, subject


def _patches(
    found: _Entries, documents: list[tuple[int, ParsedDocument]], problems: Problems
) -> dict[int, uuid.UUID]:
    """The MHD PATCH entries: each sets `DocumentReference.status` to superseded on the document
    a DocumentReference of this Bundle replaces (DOC-6); anything else is refused."""
    replaced = {parsed.new.replaces_id for _i, parsed in documents if parsed.new.replaces_id}
    superseded: dict[int, uuid.UUID] = {}
    for index, resource in found.resources_at.items():
        if found.kinds[index] != "Parameters":
            continue
        path = f"Bundle.entry[{index}].resource"
        if not _superseding(resource, path, problems) or index not in found.patch_urls:
            continue
        target = uuid_of(found.patch_urls[index], "DocumentReference")
        if target is None or target not in replaced:
            problems.add(
                f"Bundle.entry[{index}].request.url",
                "A PATCH to superseded is accepted only on the document that a DocumentReference "
                "of this Bundle replaces (relatesTo replaces).",
                "not-supported",
            )
            continue
        if target in superseded.values():
            problems.add(f"Bundle.entry[{index}]", "The same PATCH twice.", "duplicate")
            continue
        superseded[index] = target
    return superseded


def _superseding(resource: Json, path: str, problems: Problems) -> bool:
    """Exactly one FHIRPath Patch operation: replace `DocumentReference.status` by superseded."""
    operations = list(json_objects(resource.get("parameter"), f"{path}.parameter", problems))
    if len(operations) != 1 or operations[0][2].get("name") != "operation":
        problems.add(
            f"{path}.parameter",
            "Exactly one operation (replace DocumentReference.status by superseded).",
            "not-supported",
        )
        return False
    _i, where, operation = operations[0]
    parts: dict[str, Json] = {}
    for _j, part_where, part in json_objects(operation.get("part"), f"{where}.part", problems):
        name = part.get("name")
        if not isinstance(name, str) or name in parts:
            problems.add(f"{part_where}.name", "Expected type, path and value once.", "value")
            return False
        parts[name] = part
    wanted = {
        "type": ("valueCode", "replace"),
        "path": ("valueString", "DocumentReference.status"),
        "value": ("valueCode", "superseded"),
    }
    fine = set(parts) == set(wanted)
    for name, (element, value) in wanted.items():
        if fine and parts[name].get(element) != value:
            fine = False
    if not fine:
        problems.add(
            f"{where}.part",
            "Carnet accepts in an ITI-65 Bundle only the PATCH replacing DocumentReference.status "
            "by superseded (type replace, path DocumentReference.status, value superseded).",
            "not-supported",
        )
    return fine
