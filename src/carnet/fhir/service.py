"""The FHIR interactions every domain shares: the base URL, located errors and patients.

Functions taking the request's session; the caller commits. Patients are found by id or INS-NIR
(ID-1) and read through the decision point (ACC-1, ACC-8); each domain's `fhir_api` resolves its
resources' subjects here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from carnet.access.rules import decide_patient_read, mode_of
from carnet.access.service import actor_for, space_facts
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.accounts.rules import as_nir
from carnet.accounts.service import holder_by_nir
from carnet.audit.service import record
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.db import Preload, unit_cached
from carnet.errors import CarnetError, NotFound
from carnet.fhir import parse, resources, search
from carnet.fhir.parse import InvalidResource, Problem, SubjectRef

Json = resources.Json


def fhir_base(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/fhir"


def located(error: CarnetError, where: str) -> InvalidResource:
    """A service error, answered with its status and code and the location it concerns."""
    kinds = {403: "forbidden", 404: "not-found", 409: "conflict", 413: parse.ISSUE_TOO_LONG}
    kind = kinds.get(error.status_code, "processing" if error.status_code == 422 else "invalid")
    answer = InvalidResource([Problem(where, error.message, kind)], status=error.status_code)
    answer.code = error.code
    return answer


# -- who: patients ----------------------------------------------------------------------------


def find_holder(
    session: Session,
    *,
    holder_id: uuid.UUID | None,
    nir: str | None,
    preload: Sequence[Preload] = (),
) -> Holder | None:
    """The patient named by id or INS-NIR (ID-1), with what `preload` joins on their space."""
    if holder_id is not None:
        return account_service.holder(session, holder_id, preload=preload)
    if nir is not None:
        return holder_by_nir(session, valid, preload=preload) if (valid := as_nir(nir)) else None
    return None


def searched_holder(session: Session, criterion: search.PatientCriterion | None) -> Holder | None:
    """The patient a search names, or None: an empty searchset, which tells nothing of whether
    they exist."""
    if criterion is None:
        return None
    return find_holder(session, holder_id=criterion.holder_id, nir=criterion.nir)


def resolve_subject(
    session: Session, subject: SubjectRef, *, preload: Sequence[Preload] = ()
) -> Holder:
    """The holder a resource is about (ID-1); 404 with the location when there is none. Read
    once per unit of work (a Bundle names its patient in every entry), with what `preload` joins
    on the space the first time."""
    holder = unit_cached(
        session,
        ("fhir.subject", subject.holder_id, subject.nir),
        frozenset({"holders"}),
        lambda: find_holder(session, holder_id=subject.holder_id, nir=subject.nir, preload=preload),
    )
    if holder is None:
        what = "INS-NIR" if subject.nir else "id"
        raise located(NotFound(f"No patient has this {what} in Carnet."), subject.expression)
    return holder


# -- patients ----------------------------------------------------------------------------------


def _patient(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    request_id: str | None,
    interaction: str = "r",
) -> Json | None:
    actor = actor_for(session, settings, principal, holder)
    allowed = bool(decide_patient_read(actor, space_facts(session, holder), interaction))
    record(
        session,
        principal,
        "patient.read" if allowed else "patient.read-denied",
        holder_id=holder.id,
        target_type="Patient",
        target_id=str(holder.id),
        mode=mode_of(actor),
        request_id=request_id,
    )
    return resources.patient(holder) if allowed else None


def read_patient(
    session: Session,
    settings: Settings,
    principal: Principal,
    patient_id: str,
    *,
    request_id: str | None = None,
) -> Json:
    try:
        holder = account_service.holder(session, uuid.UUID(patient_id))
    except ValueError:
        holder = None
    found = _patient(session, settings, principal, holder, request_id) if holder else None
    if found is None:
        raise NotFound("No such patient.")
    return found


def search_patients(
    session: Session,
    settings: Settings,
    principal: Principal,
    params: list[tuple[str, str]],
    *,
    request_id: str | None = None,
    lenient: bool = False,
) -> Json:
    ignored: list[str] = []
    if lenient:
        params, ignored = search.known_only(params, search.PATIENT_PARAMETERS)
    criterion, count = search.patient_search(params)
    holder = find_holder(session, holder_id=criterion.holder_id, nir=criterion.nir)
    found = _patient(session, settings, principal, holder, request_id, "s") if holder else None
    base = fhir_base(settings)
    total = 1 if found else 0
    entries = [(f"{base}/Patient/{found['id']}", found)] if found and count > 0 else []
    criteria = [(n, v) for n, v in params if n != "_count"]
    links = [("self", f"{base}/Patient?{urlencode([*criteria, ('_count', str(count))])}")]
    return resources.searchset(entries, total, links, ignored=ignored)
