"""Everything one reader may read of one space, as FHIR R4 resources (issue 7 item 6:
`GET /fhir/Patient/{id}/$everything`, and the FHIR Bundle of the export, SRV-5): the Patient,
documents, profile, reimbursements, contacts and wishes (ACC-7), messages (`Communication`, SRV-1) and appointments
(`Appointment`, SRV-2).

Nothing is decided here: each source is read through the service that owns it, with the reader's
principal, exactly as its own read endpoint reads it (decision point, REP-2, DOC-4, ACC-7, audit
entries). A source the reader may not read is left out (its refusal audited by its service). So the
result is by construction the sum of the individual read endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from carnet.accounts import fhir as accounts_fhir
from carnet.accounts import wishes
from carnet.accounts.models import Holder
from carnet.agenda import fhir as agenda_fhir
from carnet.agenda import service as agenda
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.documents import fhir as documents_fhir
from carnet.documents import service as documents
from carnet.errors import Forbidden, NotFound
from carnet.export import timeline
from carnet.fhir import service as fhir_service
from carnet.messaging import fhir as messaging_fhir
from carnet.messaging.context import Context
from carnet.profile import fhir as profile_fhir
from carnet.profile import measurements as measures
from carnet.profile import rules as profile_rules
from carnet.profile import service as profile
from carnet.reimbursements import fhir as reimbursement_fhir
from carnet.vault.service import Vault

Json = dict[str, Any]


@dataclass
class Everything:
    """The resources, in a stable order (Patient, documents, profile, reimbursements, contacts,
    messages, appointments), plus the opened profile sections (the export writes them as JSON
    too) and where the messages' attachments are read (the export writes their bytes)."""

    resources: list[Json] = field(default_factory=list)
    profile: dict[str, list[profile.Entry]] = field(default_factory=dict)
    messages: messaging_fhir.PatientMessages | None = None


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
    """The reader's view of the space, every resource in a list (`$everything` pages it)."""
    found = Everything()
    found.resources.extend(
        resources(session, vault, settings, principal, holder, found,
                  include_documents=include_documents, request_id=request_id)
    )  # fmt: skip
    return found


def resources(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    found: Everything,
    *,
    include_documents: bool = True,
    request_id: str | None = None,
) -> Iterator[Json]:
    """The reader's view of the space, one resource at a time (the export writes each as it
    comes, holding none), noting the opened profile and messages in `found` on the way. The
    Patient is read first (its refusal is the caller's 404); documents are optional because the
    export writes them with their content."""
    yield fhir_service.read_patient(
        session, settings, principal, str(holder.id), request_id=request_id
    )
    if include_documents:
        try:
            for doc in timeline.readable_documents(
                session, settings, principal, holder, request_id=request_id, every_status=True
            ):
                title = documents.title_of(session, vault, doc)
                yield documents_fhir.document_reference(
                    doc, title, holder, base=fhir_service.fhir_base(settings)
                )
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
                    yield from profile_fhir.resources_of(entry, holder)
                if section == profile_rules.MEASUREMENT and section in found.profile:
                    derived = measures.bmi(entries)
                    if derived is not None:
                        yield profile_fhir.bmi_observation(derived, holder)
    try:
        for line in timeline.all_reimbursements(
            session, vault, settings, principal, holder, request_id=request_id
        ):
            yield reimbursement_fhir.explanation_of_benefit(line)
    except Forbidden:
        pass
    yield from _contacts_messages_appointments(
        session, vault, settings, principal, holder, found, request_id
    )


def _contacts_messages_appointments(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    found: Everything,
    request_id: str | None,
) -> Iterator[Json]:
    try:
        shared = wishes.list_contacts(
            session, vault, settings, principal, holder,
            kinds=wishes.SHARED_KINDS, request_id=request_id,
        )  # fmt: skip
    except Forbidden:
        shared = []
    # ACC-7: the persons, then the organ donation and advance directives wishes.
    for contact in shared:
        if contact.kind in wishes.CONTACT_KINDS:
            yield accounts_fhir.related_person(contact, holder)
    for wish in shared:
        if wish.kind not in wishes.CONTACT_KINDS and (
            found_consent := accounts_fhir.consent(wish, holder)
        ):
            yield found_consent
    # SRV-1: what `GET /fhir/Communication?patient=` gives this reader (holder side: the space's
    # conversations and the reader's own drafts; a professional: their own conversations).
    with suppress(Forbidden, NotFound):
        found.messages = messaging_fhir.patient_communications(
            Context(session, vault, settings, principal, request_id), holder
        )
    if found.messages is not None:
        yield from found.messages.resources
    # SRV-2: what `GET /fhir/Appointment?patient=` gives (a professional: those they entered).
    try:
        agenda_ctx = agenda.context(session, vault, settings, principal, holder, request_id)
        views = agenda.list_appointments(agenda_ctx, limit=None)
    except Forbidden:
        return
    for view in views:
        yield agenda_fhir.appointment(view, holder)


__all__ = ["Everything", "collect", "resources"]
