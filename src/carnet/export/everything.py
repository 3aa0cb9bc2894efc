"""Everything one reader may read of one space, as FHIR R4 resources (issue 7 item 6:
`GET /fhir/Patient/{id}/$everything`, and the FHIR Bundle of the export, SRV-5).

Nothing is decided here: each source is read through the service that owns it, with the reader's
principal, exactly as its own read endpoint reads it (decision point, REP-2, DOC-4, ACC-7, audit
entries). A source the reader may not read is left out (its refusal audited by its service). So the
result is by construction the sum of the individual read endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from carnet.accounts import fhir as accounts_fhir
from carnet.accounts import wishes
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.documents import service as documents
from carnet.documents.models import Document
from carnet.errors import Forbidden
from carnet.export import timeline
from carnet.fhir import resources
from carnet.fhir import service as fhir_service
from carnet.profile import fhir as profile_fhir
from carnet.profile import rules as profile_rules
from carnet.profile import service as profile
from carnet.reimbursements import fhir as reimbursement_fhir
from carnet.vault.service import Vault

Json = dict[str, Any]
DOCUMENT_PAGE = 500


@dataclass
class Everything:
    """The resources, in a stable order (Patient, documents, profile, reimbursements, contacts),
    plus the opened profile sections (the export writes them as JSON too)."""

    resources: list[Json] = field(default_factory=list)
    profile: dict[str, list[profile.Entry]] = field(default_factory=dict)


def all_documents(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    request_id: str | None = None,
) -> Iterator[Document]:
    """Every document the reader may read, in every status (as ITI-67 without `status`)."""
    offset = 0
    while True:
        query = documents.SearchQuery(statuses=[], count=DOCUMENT_PAGE, offset=offset, sort="-date")
        total, rows = documents.search(
            session, settings, principal, holder, query, request_id=request_id
        )
        yield from rows
        offset += len(rows)
        if not rows or offset >= total:
            return


def collect(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    include_documents: bool = True,
    request_id: str | None = None,
) -> Everything:
    """The reader's view of the space. The Patient is read first (its refusal is the caller's
    404); documents are optional because the export writes them with their content."""
    found = Everything()
    found.resources.append(
        fhir_service.read_patient(
            session, settings, principal, str(holder.id), request_id=request_id
        )
    )
    if include_documents:
        try:
            for doc in all_documents(session, settings, principal, holder, request_id=request_id):
                title = documents.title_of(session, vault, doc)
                found.resources.append(resources.document_reference(doc, title, holder))
        except Forbidden:
            pass
    ctx = profile.context(session, vault, settings, principal, holder, request_id)
    readable = profile.readable_sections(ctx)
    if readable:
        found.profile = profile.read_profile(ctx, readable)
        for sections in profile_fhir.RESOURCES.values():
            for section in sections:
                entries = found.profile.get(section, [])
                for entry in entries:
                    found.resources.extend(profile_fhir.resources_of(entry, holder))
                if section == profile_rules.MEASUREMENT and section in found.profile:
                    derived = profile.bmi(entries)
                    if derived is not None:
                        found.resources.append(profile_fhir.bmi_observation(derived, holder))
    try:
        for line in timeline.all_reimbursements(
            session, vault, settings, principal, holder, request_id=request_id
        ):
            found.resources.append(reimbursement_fhir.explanation_of_benefit(line))
    except Forbidden:
        pass
    try:
        contacts = wishes.list_contacts(
            session, vault, settings, principal, holder, request_id=request_id
        )
        found.resources.extend(accounts_fhir.related_person(w, holder) for w in contacts)
    except Forbidden:
        pass
    return found


__all__ = ["Everything", "all_documents", "collect"]
