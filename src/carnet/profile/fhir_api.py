"""FHIR R4 views of the profile under `/fhir` (issue 7, item 2): for each resource type, search by
patient (and by code and date where meaningful), read by id, create and update.

Every read and write goes through the decision point (ACC-7: professionals read vaccinations and
the health history, unless the holder hid the history; they write vaccinations only; the holder
side reads and writes everything; ACC-9: an app reads and writes the types its scopes name, as the
holder who connected it) and is audited (ACC-8), refusals included. Unknown search
parameters and unknown codes are refused (400); a write the service refuses (a future date, an
impossible value) is 422 at the FHIR element concerned; a write ACC-7 keeps from the caller is 403.
A write is one `profile.service` call: validated before anything is stored, so nothing is
half-written, and its version records who wrote it and as whom (holder, representative,
professional, or `app/<app id>` as `app`). Reads by id answer 404 when refused (existence is not
leaked).

A type may show several sections (Observation: measurements, blood group, lifestyle; Condition:
illnesses, disabilities): a search returns those of the sections ACC-7 opens to the caller, a read
or update by id goes to the section of the entry the id names (a lifestyle Observation's id is
`<entry id>-<field>`), and an update may not change an entry's section.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from carnet.access.routes import authenticated
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal
from carnet.errors import Forbidden, InvalidInput, NotFound, kept
from carnet.fhir import resources, search
from carnet.fhir.api import READERS, FhirResponse, document_body
from carnet.fhir.parse import (
    InvalidResource,
    Problem,
    Problems,
    date_range,
    resource_type_problem,
)
from carnet.fhir.service import fhir_base, located, resolve_subject, searched_holder
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import db_session, keeping_audit, request_id
from carnet.profile import fhir, fhir_in, fhir_in_fields, rules, service
from carnet.profile import measurements as measures

router = APIRouter(prefix="/fhir", tags=["fhir"])

Json = resources.Json


@dataclass(frozen=True)
class TokenParam:
    """A token search parameter: accepted systems, the element(s) whose codings a resource
    answers with (a CodeableConcept or a list of them), the codes Carnet knows (others: 400)."""

    systems: frozenset[str]
    element: str
    known: frozenset[str] | None = None

    def codes_of(self, resource: Json) -> set[str]:
        value = resource.get(self.element)
        concepts = value if isinstance(value, list) else [value] if value else []
        return {c["code"] for concept in concepts for c in concept.get("coding", [])}


@dataclass(frozen=True)
class ProfileType:
    """A resource type's search criteria (its sections and builders: `fhir.RESOURCES`)."""

    tokens: dict[str, TokenParam]
    date: str | None  # the name of the date parameter (on the entry's effective date)


_OBSERVATION_CATEGORIES = frozenset(
    {m.category for m in rules.MEASURES.values()} | {fhir.LABORATORY, fhir.SOCIAL_HISTORY}
)

TYPES: dict[str, ProfileType] = {
    "Immunization": ProfileType(
        {"vaccine-code": TokenParam(frozenset({fhir.VACCINE_SYSTEM}), "vaccineCode")}, "date"
    ),
    "Observation": ProfileType(
        {
            "code": TokenParam(
                frozenset({rules.LOINC_SYSTEM}),
                "code",
                frozenset(rules.LOINC_TO_MEASURE) | fhir.OTHER_OBSERVATION_CODES,
            ),
            "category": TokenParam(
                frozenset({fhir.OBSERVATION_CATEGORY}), "category", _OBSERVATION_CATEGORIES
            ),
        },
        "date",
    ),
    "AllergyIntolerance": ProfileType({}, None),
    "Condition": ProfileType({}, "onset-date"),
    "MedicationStatement": ProfileType(
        {
            "code": TokenParam(
                frozenset({fhir.ATC_SYSTEM, fhir.CIP_SYSTEM}), "medicationCodeableConcept"
            )
        },
        "effective",
    ),
    "FamilyMemberHistory": ProfileType(
        {
            "relationship": TokenParam(
                frozenset({fhir.ROLE_SYSTEM}),
                "relationship",
                frozenset(code for code, _d in fhir.RELATIVE_CODES.values()),
            )
        },
        None,
    ),
    "Encounter": ProfileType({}, "date"),
}
assert set(TYPES) == set(fhir.RESOURCES)


def _allowed(resource_type: str) -> frozenset[str]:
    return frozenset(name for name, _t, _d in resources.SEARCH_PARAMETERS[resource_type])


def _tokens(name: str, values: list[str], param: TokenParam, problems: Problems) -> set[str]:
    """`system|code,code`: commas mean OR; repeats mean AND."""
    result: set[str] | None = None
    for value in values:
        codes: set[str] = set()
        for token in value.split(","):
            system, bar, code = token.partition("|")
            if not bar:
                system, code = "", token
            if system and system not in param.systems:
                problems.add(
                    name, f"Unsupported system {system!r}: use {', '.join(sorted(param.systems))}."
                )
            elif not code:
                problems.add(name, "Empty code.", "value")
            elif param.known is not None and code not in param.known:
                known = ", ".join(sorted(param.known))
                problems.add(name, f"Unknown code {code!r}; known: {known}.", "code-invalid")
            else:
                codes.add(code)
        result = codes if result is None else result & codes
    return result or set()


def _in_range(day: dt.date | None, lower: dt.datetime | None, upper: dt.datetime | None,
              timezone: str) -> bool:  # fmt: skip
    if lower is None and upper is None:
        return True
    if day is None:
        return False
    start, _end, _precision = date_range(day.isoformat(), timezone)
    return (lower is None or start >= lower) and (upper is None or start < upper)


def search_entries(
    request: Request, session: Session, principal: Principal, resource_type: str
) -> Json:
    """One type's search: the patient's entries the caller may read (of every section the type
    shows that ACC-7 opens to them), narrowed by the criteria."""
    kind = TYPES[resource_type]
    sections = fhir.RESOURCES[resource_type]
    settings = _settings(request)
    allowed = _allowed(resource_type)
    params, ignored = search.received(
        list(request.query_params.multi_items()), allowed, request.headers.get("prefer")
    )
    problems = Problems()
    search.unsupported(params, allowed, problems)
    criterion = search.one_patient(params, problems)
    wanted: dict[str, set[str]] = {}
    for name, param in kind.tokens.items():
        values = [v for n, v in params if n == name]
        if values:
            wanted[name] = _tokens(name, values, param, problems)
    common = search.common_filter(params, settings.timezone, problems)
    lower = upper = None
    if kind.date is not None:
        lower, upper = search._dates(
            kind.date, [v for n, v in params if n == kind.date], settings.timezone, problems
        )
    problems.raise_if_any()
    base = fhir_base(settings)
    link = [("self", f"{base}/{resource_type}?{urlencode(params)}")]
    holder = searched_holder(session, criterion)
    if holder is None:
        return resources.searchset([], 0, link, ignored=ignored)
    ctx = service.context(
        session, _vault(request), settings, principal, holder, request_id(request)
    )
    readable = service.read_profile(ctx, sections)  # ACC-7 per section; refused if none
    dated: list[tuple[Json, dt.date | None]] = [
        (resource, entry.effective_date)
        for entries in readable.values()
        for entry in entries
        for resource in fhir.resources_of(entry, holder)
    ]
    if rules.MEASUREMENT in readable:
        derived = measures.bmi(readable[rules.MEASUREMENT])
        if derived is not None:
            dated.append((fhir.bmi_observation(derived, holder), derived.date))
    found = [
        resource
        for resource, day in dated
        if all(kind.tokens[name].codes_of(resource) & codes for name, codes in wanted.items())
        and _in_range(day, lower, upper, settings.timezone)
        and common(resource)
    ]
    return resources.searchset(
        ((f"{base}/{resource_type}/{r['id']}", r) for r in found), len(found), link, ignored=ignored
    )


def _entry_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("No such resource.") from None


def _one_of(entry: service.Entry, holder: Holder, resource_id: str) -> Json:
    """The resource of `entry` with this id (a lifestyle entry gives one per filled field)."""
    for resource in fhir.resources_of(entry, holder):
        if resource["id"] == resource_id:
            return resource
    raise NotFound("No such resource.")


def read_entry(
    request: Request, session: Session, principal: Principal, resource_type: str, resource_id: str
) -> Json:
    """One entry by id; 404 when it does not exist, is of a section the type does not show, or
    the caller may not read it (audited)."""
    settings = _settings(request)
    if resource_type == "Observation" and resource_id.startswith("bmi-"):
        return _read_bmi(request, session, principal, resource_id)
    parts = fhir.split_id(resource_id)
    if parts is None:
        raise NotFound("No such resource.")
    entry_id, aspect = parts
    found = service.find_entry(session, fhir.RESOURCES[resource_type], entry_id)
    if found is None or (found[1] == rules.LIFESTYLE) != (aspect is not None):
        raise NotFound("No such resource.")
    holder, section = found
    ctx = service.context(
        session, _vault(request), settings, principal, holder, request_id(request)
    )
    try:
        entry = service.get_entry(ctx, section, entry_id)
    except Forbidden:
        raise kept(NotFound("No such resource.")) from None  # ACC-8: the refusal's audit entry
    return _one_of(entry, holder, resource_id)


def _read_bmi(request: Request, session: Session, principal: Principal, resource_id: str) -> Json:
    """The derived BMI (`Observation/bmi-<patient id>`), from the latest weight and height."""
    holder = account_service.holder(session, _entry_id(resource_id.removeprefix("bmi-")))
    if holder is None:
        raise NotFound("No such resource.")
    settings = _settings(request)
    ctx = service.context(
        session, _vault(request), settings, principal, holder, request_id(request)
    )
    try:
        derived = measures.bmi(service.list_section(ctx, rules.MEASUREMENT))
    except Forbidden:
        raise kept(NotFound("No such resource.")) from None  # ACC-8: the refusal's audit entry
    if derived is None:
        raise NotFound("No such resource.")
    return fhir.bmi_observation(derived, holder)


def _parse(resource_type: str, body: Any) -> fhir_in.Parsed:
    problems = resource_type_problem(body, resource_type)
    problems.raise_if_any()
    parsed = fhir_in.READERS[resource_type](body, problems)
    problems.raise_if_any()
    return parsed


def _unprocessable(resource_type: str, section: str, error: InvalidInput) -> InvalidResource:
    """A section rule refused the content (future date, impossible value, bad ATC/CIP shape):
    422, located at the FHIR element it came from."""
    where, message = fhir_in_fields.locate(resource_type, section, error.field, error.message)
    answer = InvalidResource([Problem(where, message, "business-rule")], status=422)
    answer.code = error.code
    return answer


# Where a resource says which section it belongs to (an update may not move it to another one).
_KIND_ELEMENT = {"Observation": "Observation.code", "Condition": "Condition.category"}


def _target(
    session: Session, resource_type: str, resource_id: str | None, parsed: fhir_in.Parsed
) -> tuple[Holder | None, uuid.UUID | None]:
    """For an update: the entry's space and id, after checking the resource still describes the
    same section (and the same lifestyle field) as the entry it replaces."""
    if resource_id is None:
        return None, None
    parts = fhir.split_id(resource_id)
    found = service.find_entry(session, fhir.RESOURCES[resource_type], parts[0]) if parts else None
    if parts is None or found is None or (found[1] == rules.LIFESTYLE) != (parts[1] is not None):
        raise NotFound("No such resource.")
    owner, section = found
    if section != parsed.section or parts[1] != parsed.aspect:
        what = section.replace("_", " ") + (f" ({parts[1]})" if parts[1] else "")
        raise located(
            InvalidInput(f"This {resource_type} is a {what} entry; it cannot change kind.",
                         code="kind-mismatch"),
            _KIND_ELEMENT.get(resource_type, resource_type),
        )  # fmt: skip
    return owner, parts[0]


def _write(
    request: Request,
    session: Session,
    principal: Principal,
    resource_type: str,
    body: Any,
    resource_id: str | None,
) -> Json:
    parsed = _parse(resource_type, body)
    assert parsed.subject is not None
    section = parsed.section
    settings = _settings(request)
    if resource_id is not None:
        given = body.get("id")
        if given is not None and given != resource_id:
            raise located(InvalidInput("The id in the body is not the one in the URL."),
                          f"{resource_type}.id")  # fmt: skip
    owner, entry_id = _target(session, resource_type, resource_id, parsed)
    holder = resolve_subject(session, parsed.subject)
    if owner is not None and holder.id != owner.id:
        raise located(
            InvalidInput("An entry stays in its patient's space.", code="patient-mismatch"),
            parsed.subject.expression,
        )
    ctx = service.context(
        session, _vault(request), settings, principal, holder, request_id(request)
    )
    with keeping_audit():
        try:
            if entry_id is None:
                entry = service.create_entry(ctx, section, parsed.content)
            else:
                entry = service.update_entry(ctx, section, entry_id, parsed.content,
                                             merge=section == rules.LIFESTYLE)  # fmt: skip
        except InvalidInput as error:
            raise _unprocessable(resource_type, section, error) from None
    aspect = fhir.ASPECTS_BY_SLUG.get(parsed.aspect or "")
    return _one_of(entry, holder, fhir.lifestyle_id(entry.id, aspect) if aspect else str(entry.id))


# -- routes: one search, read, create and update per type ----------------------------------------


def _register(resource_type: str) -> None:
    sections = " and ".join(s.replace("_", " ") for s in fhir.RESOURCES[resource_type])
    label = f"{resource_type} ({sections} of the profile)"

    def search_type(
        request: Request,
        principal: Principal = authenticated(*READERS, app_scope=(resource_type, "s")),
        session: Session = Depends(db_session, scope="function"),
    ) -> FhirResponse:
        with keeping_audit():
            bundle = search_entries(request, session, principal, resource_type)
        return FhirResponse(bundle)

    def read(
        resource_id: str,
        request: Request,
        principal: Principal = authenticated(*READERS, app_scope=(resource_type, "r")),
        session: Session = Depends(db_session, scope="function"),
    ) -> FhirResponse:
        with keeping_audit():
            resource = read_entry(request, session, principal, resource_type, resource_id)
        return FhirResponse(resource)

    def create(
        request: Request,
        principal: Principal = authenticated(*READERS, app_scope=(resource_type, "c")),
        body: Any = Depends(document_body),
        session: Session = Depends(db_session, scope="function"),
    ) -> FhirResponse:
        resource = _write(request, session, principal, resource_type, body, None)
        location = f"{fhir_base(_settings(request))}/{resource_type}/{resource['id']}"
        return FhirResponse(resource, status_code=201, headers={"Location": location})

    def update(
        resource_id: str,
        request: Request,
        principal: Principal = authenticated(*READERS, app_scope=(resource_type, "u")),
        body: Any = Depends(document_body),
        session: Session = Depends(db_session, scope="function"),
    ) -> FhirResponse:
        resource = _write(request, session, principal, resource_type, body, resource_id)
        return FhirResponse(resource)

    path = f"/{resource_type}"
    router.add_api_route(path, search_type, methods=["GET"], response_class=FhirResponse,
                         summary=f"Search {label}", name=f"search_{resource_type}")  # fmt: skip
    router.add_api_route(f"{path}/{{resource_id}}", read, methods=["GET"],
                         response_class=FhirResponse, summary=f"Read {label}",
                         name=f"read_{resource_type}")  # fmt: skip
    router.add_api_route(path, create, methods=["POST"], status_code=201,
                         response_class=FhirResponse, summary=f"Create {label}",
                         name=f"create_{resource_type}")  # fmt: skip
    router.add_api_route(f"{path}/{{resource_id}}", update, methods=["PUT"],
                         response_class=FhirResponse, summary=f"Update {label}",
                         name=f"update_{resource_type}")  # fmt: skip


for _type in TYPES:
    _register(_type)
