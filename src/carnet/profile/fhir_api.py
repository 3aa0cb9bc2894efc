"""FHIR R4 views of the profile under `/fhir` (issue 7, item 2): searches by patient, and by code
for Observation. Every search goes through the decision point (ACC-7: professionals get
vaccinations and the health history; measurements stay on the holder side) and is audited (ACC-8),
refusals included. Unknown search parameters and unknown codes are refused (400)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.errors import CarnetError
from carnet.fhir import resources, search
from carnet.fhir.parse import Problems
from carnet.fhir.service import fhir_base, find_holder
from carnet.http import FHIR_JSON, db_session, request_id
from carnet.profile import fhir, rules, service
from carnet.vault.service import Vault

router = APIRouter(prefix="/fhir", tags=["fhir"])

READERS = (PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR, PrincipalKind.HOLDER)
Builder = Callable[[service.Entry, Holder], resources.Json]


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


@contextmanager
def _keeping_audit(session: Session) -> Iterator[None]:
    try:
        yield
    except CarnetError:
        session.commit()
        raise


def _allowed(resource_type: str) -> frozenset[str]:
    return frozenset(name for name, _t, _d in resources.SEARCH_PARAMETERS[resource_type])


def _loinc_codes(values: list[str], problems: Problems) -> set[str]:
    """`code=http://loinc.org|29463-7,8302-2`: commas mean OR; repeats mean AND."""
    result: set[str] | None = None
    for value in values:
        codes: set[str] = set()
        for token in value.split(","):
            system, bar, code = token.partition("|")
            if not bar:
                system, code = "", token
            if system not in ("", rules.LOINC_SYSTEM):
                problems.add("code", f"Only LOINC ({rules.LOINC_SYSTEM}) codes are searched.")
            elif code not in rules.LOINC_TO_MEASURE:
                known = ", ".join(m.loinc for m in rules.LOINC_TO_MEASURE.values())
                problems.add("code", f"Unknown LOINC code {code!r}; known: {known}.")
            else:
                codes.add(code)
        result = codes if result is None else result & codes
    return result or set()


def _search(
    request: Request,
    session: Session,
    principal: Principal,
    resource_type: str,
    section: str,
    build: Builder,
) -> FhirResponse:
    params = list(request.query_params.multi_items())
    allowed = _allowed(resource_type)
    problems = Problems()
    for name in sorted({n for n, _v in params if n not in allowed and n != "_format"}):
        problems.add(
            name,
            f"Unknown or unsupported search parameter {name!r}; supported: "
            + ", ".join(sorted(allowed))
            + ".",
            "not-supported",
        )
    patients = [
        search.patient_reference(n, v, problems)
        if n == "patient"
        else search.patient_identifier(n, v, problems)
        for n, v in params
        if n in ("patient", "patient.identifier")
    ]
    if len(patients) != 1:
        problems.add(
            "patient", "Give exactly one patient (patient or patient.identifier).", "required"
        )
    codes: set[str] | None = None
    code_values = [v for n, v in params if n == "code"]
    if code_values:
        codes = _loinc_codes(code_values, problems)
    problems.raise_if_any()
    criterion = patients[0]
    settings: Settings = request.app.state.settings
    vault: Vault = request.app.state.vault
    base = fhir_base(settings)
    link = [("self", f"{base}/{resource_type}?{urlencode(params)}")]
    holder = (
        find_holder(session, holder_id=criterion.holder_id, nir=criterion.nir)
        if criterion
        else None
    )
    if holder is None:
        return FhirResponse(resources.searchset([], 0, link))
    ctx = service.context(session, vault, settings, principal, holder, request_id(request))
    with _keeping_audit(session):
        entries = service.list_section(ctx, section)
    found: list[resources.Json] = []
    for entry in entries:
        if codes is not None and rules.MEASURES[entry.content["kind"]].loinc not in codes:
            continue
        found.append(build(entry, holder))
    if section == rules.MEASUREMENT and (codes is None or rules.BMI.loinc in codes):
        derived = service.bmi(entries)
        if derived is not None:
            found.append(fhir.bmi_observation(derived, holder))
    session.commit()
    bundle = resources.searchset(
        ((f"{base}/{resource_type}/{r['id']}", r) for r in found), len(found), link
    )
    return FhirResponse(bundle)


@router.get("/Immunization", response_class=FhirResponse, summary="Vaccinations of a patient")
def search_immunizations(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Immunization", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    return _search(
        request, session, principal, "Immunization", rules.VACCINATION, fhir.immunization
    )


@router.get(
    "/Observation",
    response_class=FhirResponse,
    summary="Measurements of a patient (vital signs, LOINC, UCUM); holder side only (ACC-7)",
)
def search_observations(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Observation", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    return _search(request, session, principal, "Observation", rules.MEASUREMENT, fhir.observation)


@router.get(
    "/AllergyIntolerance",
    response_class=FhirResponse,
    summary="Allergies and intolerances of a patient",
)
def search_allergies(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("AllergyIntolerance", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    return _search(
        request, session, principal, "AllergyIntolerance", rules.ALLERGY, fhir.allergy_intolerance
    )


@router.get("/Condition", response_class=FhirResponse, summary="Illnesses of a patient")
def search_conditions(
    request: Request,
    principal: Principal = authenticated(*READERS, app_scope=("Condition", "s")),
    session: Session = Depends(db_session, scope="function"),
) -> FhirResponse:
    return _search(request, session, principal, "Condition", rules.ILLNESS, fhir.condition)
