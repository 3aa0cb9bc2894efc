"""Reimbursement lines as FHIR R4 `ExplanationOfBenefit` (rules SRV-4, ACC-7, ACC-8, ID-1, ID-2).

One resource per feed line: the act as `item.productOrService`, the amounts as adjudications
`submitted` (charged) and `benefit` (reimbursed) in EUR, the payment date, the professional by RPPS
when the feed names one. Built from `reimbursements.service`, which applies the decision point
(holder side only: professionals get nothing, ACC-7); this module only changes the form.
Valid against the official R4 JSON schema (`tests/reimbursements` checks it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy.orm import Session

from carnet.access import lookups
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.accounts.rules import RPPS_SYSTEM
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.errors import NotFound
from carnet.fhir import search
from carnet.fhir.parse import Problems
from carnet.fhir.resources import Json, searchset
from carnet.reimbursements import service
from carnet.reimbursements.service import ReimbursementView
from carnet.vault.service import Vault

CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
# The insurer's act codes (CCAM, NGAP, LPP…) as the feed gives them, without telling which table.
ACT_SYSTEM = "https://carnet.example/fhir/CodeSystem/insurer-act"
INSURER = "Assurance Maladie"
CURRENCY = "EUR"
PARAMETERS = frozenset({"patient", "patient.identifier", "_page", "_format"})


def _money(amount: Decimal) -> Json:
    return {"value": float(amount), "currency": CURRENCY}


def _adjudication(code: str, amount: Decimal) -> Json:
    return {"category": {"coding": [{"system": ADJUDICATION, "code": code}]},
            "amount": _money(amount)}  # fmt: skip


def explanation_of_benefit(view: ReimbursementView) -> Json:
    """One reimbursement line as an R4 ExplanationOfBenefit (status active, outcome complete)."""
    created = dt.datetime.combine(view.payment_date, dt.time(), dt.UTC)
    provider: Json = (
        {"identifier": {"system": RPPS_SYSTEM, "value": view.professional_rpps}}
        if view.professional_rpps
        else {"display": "Professionnel non précisé par l'assureur"}
    )
    product: Json = {"coding": [{"system": ACT_SYSTEM, "code": view.act_code}]}
    if view.act_label:
        product["coding"][0]["display"] = view.act_label
        product["text"] = view.act_label
    item: Json = {
        "sequence": 1,
        "productOrService": product,
        "servicedDate": view.care_date.isoformat(),
        "net": _money(view.amount_charged),
        "adjudication": [
            _adjudication("submitted", view.amount_charged),
            _adjudication("benefit", view.amount_reimbursed),
        ],
    }
    resource: Json = {
        "resourceType": "ExplanationOfBenefit",
        "id": str(view.id),
        "status": "active",
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": f"Patient/{view.holder_id}"},
        "billablePeriod": {"start": view.care_date.isoformat(), "end": view.care_date.isoformat()},
        "created": created.isoformat().replace("+00:00", "Z"),
        "insurer": {"display": INSURER},
        "provider": provider,
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"display": f"{INSURER} (régime obligatoire)"}}],
        "item": [item],
        "total": [
            _adjudication("submitted", view.amount_charged),
            _adjudication("benefit", view.amount_reimbursed),
        ],
        "payment": {
            "date": view.payment_date.isoformat(),
            "amount": _money(view.amount_reimbursed),
        },
    }
    if view.professional_rpps:
        resource["careTeam"] = [{"sequence": 1, "provider": dict(provider)}]
        item["careTeamSequence"] = [1]
    return resource


def search_explanations(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    params: list[tuple[str, str]],
    base: str,
    *,
    request_id: str | None = None,
    prefer: str | None = None,
) -> Json:
    """`GET /fhir/ExplanationOfBenefit?patient=…`: one space's lines, `service.PAGE_SIZE` a page."""
    params, ignored = search.received(params, PARAMETERS, prefer)
    problems = Problems()
    for name in sorted({name for name, _ in params if name not in PARAMETERS}):
        problems.add(name, f"Unsupported search parameter {name!r}.", "not-supported")
    patient: search.PatientCriterion | None = None
    page = 1
    for name, value in params:
        if name == "patient":
            patient = search.patient_reference(name, value, problems)
        elif name == "patient.identifier":
            patient = search.patient_identifier(name, value, problems)
        elif name == "_page":
            page = search.page_number(name, [value], problems)
    if patient is None and not problems:
        problems.add(
            "patient", "A patient is required (patient or patient.identifier).", "required"
        )
    problems.raise_if_any()
    assert patient is not None
    holder: Holder | None = (
        account_service.holder(session, patient.holder_id)
        if patient.holder_id is not None
        else lookups.holder_by_nir(session, patient.nir or "")
    )
    if holder is None:
        raise NotFound("No such patient.")
    found = service.list_reimbursements(
        session, vault, settings, principal, holder, page=page, request_id=request_id
    )
    criteria = "&".join(f"{n}={v}" for n, v in params if n != "_page")
    links = [("self", f"{base}/ExplanationOfBenefit?{criteria}&_page={page}")]
    if page < found.pages:
        links.append(("next", f"{base}/ExplanationOfBenefit?{criteria}&_page={page + 1}"))
    if page > 1:
        links.append(("previous", f"{base}/ExplanationOfBenefit?{criteria}&_page={page - 1}"))
    return searchset(
        ((f"{base}/ExplanationOfBenefit/{v.id}", explanation_of_benefit(v)) for v in found.items),
        found.total,
        links,
        ignored=ignored,
    )


def read_explanation(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    line_id: str,
    *,
    request_id: str | None = None,
) -> Json:
    """`GET /fhir/ExplanationOfBenefit/{id}`: the read the search's `fullUrl`s point at."""
    try:
        wanted = uuid.UUID(line_id)
    except ValueError:
        raise NotFound("No such reimbursement.") from None
    return explanation_of_benefit(
        service.read_reimbursement(
            session, vault, settings, principal, wanted, request_id=request_id
        )
    )


__all__ = ["explanation_of_benefit", "read_explanation", "search_explanations"]
