"""`GET /fhir/RelatedPerson?patient=…` and `/fhir/RelatedPerson/{id}`: the holder's contacts (issue 7; ACC-7, ACC-8).

Same conventions as `carnet.fhir.api`: one access rule, `application/fhir+json`, the audit entry
committed before the data leaves and a refusal's entry committed too.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated
from carnet.accounts import fhir, wishes
from carnet.auth.principal import Principal
from carnet.errors import NotFound
from carnet.fhir import resources, search
from carnet.fhir.api import READERS, FhirResponse
from carnet.fhir.parse import Problems
from carnet.fhir.service import fhir_base, searched_holder
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import db_session, keeping_audit, request_id

router = APIRouter(prefix="/fhir", tags=["fhir"])

PARAMETERS = frozenset(name for name, _t, _d in resources.SEARCH_PARAMETERS["RelatedPerson"])
_SYSTEMS = {system for system, _code, _display in fhir.ROLES.values()}
_CODES = {code for _system, code, _display in fhir.ROLES.values()}


def _relationships(values: list[str], problems: Problems) -> set[str] | None:
    if not values:
        return None
    found: set[str] | None = None
    for value in values:
        codes: set[str] = set()
        for token in value.split(","):
            system, bar, code = token.partition("|")
            if not bar:
                system, code = "", token
            if (system and system not in _SYSTEMS) or code not in _CODES:
                problems.add("relationship", f"Unknown relationship {token!r}: C "
                             "(emergency contact) or trusted-person.", "code-invalid")  # fmt: skip
            else:
                codes.add(code)
        found = codes if found is None else found & codes
    return found


def search_related_persons(
    request: Request, session: Session, principal: Principal
) -> resources.Json:
    params, ignored = search.received(
        list(request.query_params.multi_items()), PARAMETERS, request.headers.get("prefer")
    )
    problems = Problems()
    search.unsupported(params, PARAMETERS, problems)
    criterion = search.one_patient(params, problems)
    wanted = _relationships([v for n, v in params if n == "relationship"], problems)
    settings = _settings(request)
    common = search.common_filter(params, settings.timezone, problems)
    problems.raise_if_any()
    base = fhir_base(settings)
    link = [("self", f"{base}/RelatedPerson?{urlencode(params)}")]
    holder = searched_holder(session, criterion)
    if holder is None:
        return resources.searchset([], 0, link, ignored=ignored)
    found = [
        resource
        for wish in wishes.list_contacts(
            session, _vault(request), settings, principal, holder, request_id=request_id(request)
        )
        if wanted is None or fhir.role_code(wish)[1] in wanted
        if common(resource := fhir.related_person(wish, holder))
    ]
    return resources.searchset(
        ((f"{base}/RelatedPerson/{r['id']}", r) for r in found), len(found), link, ignored=ignored
    )


@router.get(
    "/RelatedPerson",
    response_class=FhirResponse,
    summary="A patient's emergency contacts and trusted person (ACC-7)",
)
def search_related_person(
    request: Request,
    principal: Principal = authenticated(*READERS),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    with keeping_audit():
        bundle = search_related_persons(request, session, principal)
    return FhirResponse(bundle)


@router.get(
    "/RelatedPerson/{resource_id}",
    response_class=FhirResponse,
    summary="Read one contact (404 when absent or not readable)",
)
def read_related_person(
    resource_id: str,
    request: Request,
    principal: Principal = authenticated(*READERS),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    try:
        wish_id = uuid.UUID(resource_id)
    except ValueError:
        raise NotFound("No such contact.") from None
    with keeping_audit():
        holder, wish = wishes.read_contact(
            session, _vault(request), _settings(request), principal, wish_id,
            request_id=request_id(request),
        )  # fmt: skip
    return FhirResponse(fhir.related_person(wish, holder))
