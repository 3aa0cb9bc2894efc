"""ITI-67 search parameters → `documents.service.SearchQuery` (strict: unknown parameters are refused).

Every problem is collected with the parameter's name as its location, then raised at once (400).
The criteria are applied in SQL by `documents.service.search`, through the decision point; nothing
here filters results.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from carnet.accounts.rules import INS_NIR_SYSTEM, RPPS_SYSTEM, rpps_problem
from carnet.documents import reference
from carnet.documents.fhir import DOCUMENT_STATUSES
from carnet.documents.service import SearchQuery
from carnet.fhir import resources
from carnet.fhir.parse import Json, Problems, date_range, nir_value
from carnet.http import MAX_REQUEST_INTEGER, bounded_integer

DEFAULT_COUNT = 20
MAX_COUNT = 500
# Parameters every FHIR search accepts and that change nothing here.
IGNORED = frozenset({"_format"})
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_DATE_PREFIXES = ("eq", "ge", "gt", "le", "lt")
_SORTS = frozenset({"date", "-date", "period", "-period"})
# A code no document can have: criteria that exclude everything still run the (audited) search.
NO_MATCH = ""


@dataclass
class PatientCriterion:
    """The patient a search is about: a Patient id or an INS-NIR (rule ID-1)."""

    holder_id: uuid.UUID | None = None
    nir: str | None = None


@dataclass
class DocumentSearch:
    patient: PatientCriterion | None
    query: SearchQuery
    # The parameters as given, without paging, to build the paging links.
    criteria: list[tuple[str, str]] = field(default_factory=list)
    # Unknown parameters a lenient search left out (`Prefer: handling=lenient`).
    ignored: list[str] = field(default_factory=list)


def lenient(prefer: str | None) -> bool:
    """Whether a `Prefer` header asks for `handling=lenient` (strict is the default)."""
    if not prefer:
        return False
    parts = (part.strip().lower() for item in prefer.split(",") for part in item.split(";"))
    return any(part.replace(" ", "") == "handling=lenient" for part in parts)


def received(
    params: list[tuple[str, str]], allowed: frozenset[str], prefer: str | None
) -> tuple[list[tuple[str, str]], list[str]]:
    """A search's parameters as received: all of them (strict, the default: an unknown one is
    then refused by `unsupported`), or with `Prefer: handling=lenient` the known ones and the
    names of those left out, to be said in the searchset's OperationOutcome entry."""
    if lenient(prefer):
        return known_only(params, allowed)
    return params, []


def known_only(
    params: list[tuple[str, str]], allowed: frozenset[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """A lenient search's parameters: those it knows, and the names of the others (ignored)."""
    kept = [(n, v) for n, v in params if n in allowed or n in IGNORED]
    ignored = sorted({n for n, _v in params if n not in allowed and n not in IGNORED})
    return kept, ignored


def _names(resource_type: str) -> frozenset[str]:
    return frozenset(name for name, _t, _d in resources.SEARCH_PARAMETERS[resource_type])


def unsupported(params: list[tuple[str, str]], allowed: frozenset[str], problems: Problems) -> None:
    """A not-supported problem for each parameter outside `allowed` (and `IGNORED`), once, with the
    supported ones listed."""
    unknown = sorted({name for name, _v in params if name not in allowed and name not in IGNORED})
    for name in unknown:
        problems.add(
            name,
            f"Unknown or unsupported search parameter {name!r}; supported: "
            + ", ".join(sorted(allowed))
            + ".",
            "not-supported",
        )


def one_patient(params: list[tuple[str, str]], problems: Problems) -> PatientCriterion | None:
    """The patient of a search by `patient` (a reference) or `patient.identifier` (INS-NIR,
    ID-1): exactly one, otherwise a problem."""
    patients = [
        patient_reference(n, v, problems) if n == "patient" else patient_identifier(n, v, problems)
        for n, v in params
        if n in ("patient", "patient.identifier")
    ]
    if len(patients) != 1:
        problems.add(
            "patient", "Give exactly one patient (patient or patient.identifier).", "required"
        )
        return None
    return patients[0]


def _unknown(params: list[tuple[str, str]], allowed: frozenset[str], problems: Problems) -> None:
    unsupported(params, allowed, problems)
    for name, value in params:
        if name == "_format" and value not in _JSON_FORMATS:
            problems.add(name, "Only JSON is served.", "not-supported")
        if name in allowed and not value:
            problems.add(name, "Empty value.", "value")


def _token(value: str) -> tuple[str | None, str]:
    """`system|code` → (system, code); `|code` → ("", code); `code` → (None, code)."""
    if "|" in value:
        system, _bar, code = value.partition("|")
        return system, code
    return None, value


def patient_reference(name: str, value: str, problems: Problems) -> PatientCriterion | None:
    """`Patient/<id>`, `<id>` or an absolute URL ending in `Patient/<id>`."""
    tail = value.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] != "Patient":
        problems.add(name, "Expected Patient/<id> or <id>.", "value")
        return None
    try:
        return PatientCriterion(holder_id=uuid.UUID(tail[-1]))
    except ValueError:
        problems.add(
            name, "Expected Patient/<id> or <id>, the id being a Carnet patient id.", "value"
        )
        return None


def patient_identifier(name: str, value: str, problems: Problems) -> PatientCriterion | None:
    """`urn:oid:1.2.250.1.213.1.4.8|<NIR>` (INS-NIR, rule ID-1); a bare NIR is read the same."""
    system, code = _token(value)
    if system not in (None, INS_NIR_SYSTEM):
        problems.add(name, f"Only the INS-NIR system {INS_NIR_SYSTEM} is supported.", "value")
        return None
    nir = nir_value(code, name, problems)
    return PatientCriterion(nir=nir) if nir else None


def _codes(
    name: str, values: list[str], system: str, known: frozenset[str] | None, problems: Problems
) -> list[str]:
    """Token parameters: commas mean OR, repeats mean AND (so their codes intersect)."""
    result: set[str] | None = None
    for value in values:
        codes: set[str] = set()
        for token in value.split(","):
            token_system, code = _token(token)
            if token_system not in (None, "", system):
                problems.add(name, f"Unsupported system {token_system!r}: use {system}.", "value")
                continue
            if not code:
                problems.add(name, "Empty code.", "value")
                continue
            if known is not None and code not in known:
                problems.add(name, f"Unknown code {code!r}.", "code-invalid")
                continue
            codes.add(code)
        result = codes if result is None else result & codes
    if result is None:
        return []
    return sorted(result) or [NO_MATCH]


def _ids(values: list[str]) -> list[uuid.UUID]:
    """`_id`: commas mean OR, repeats AND. An id that is no Carnet id matches nothing (as a read
    of it is a 404), rather than refusing the search."""
    result: set[uuid.UUID] | None = None
    for value in values:
        ids: set[uuid.UUID] = set()
        for text in value.split(","):
            try:
                ids.add(uuid.UUID(text.strip()))
            except ValueError:
                continue
        result = ids if result is None else result & ids
    return sorted(result or ())


def common_filter(
    params: list[tuple[str, str]], timezone: str, problems: Problems
) -> Callable[[Json], bool]:
    """`_id` and `_lastUpdated` as a test on a rendered resource (its `id`, its
    `meta.lastUpdated`); a resource without `meta.lastUpdated` does not match a `_lastUpdated`
    criterion."""
    wanted: set[str] | None = None
    for value in (v for n, v in params if n == "_id"):
        ids = {text.strip() for text in value.split(",") if text.strip()}
        wanted = ids if wanted is None else wanted & ids
    updated = [v for n, v in params if n == "_lastUpdated"]
    lower, upper = _dates("_lastUpdated", updated, timezone, problems)

    def matches(resource: Json) -> bool:
        if wanted is not None and resource.get("id") not in wanted:
            return False
        if not updated:
            return True
        stamp = (resource.get("meta") or {}).get("lastUpdated")
        if not isinstance(stamp, str):
            return False
        try:
            at = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return False
        return (lower is None or at >= lower) and (upper is None or at < upper)

    return matches


def _dates(
    name: str, values: list[str], timezone: str, problems: Problems
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`[prefix]date` values → (from, to) with `to` exclusive; repeats mean AND."""
    lower: dt.datetime | None = None
    upper: dt.datetime | None = None
    for value in values:
        prefix = value[:2] if value[:2].isalpha() else "eq"
        text = value[2:] if value[:2].isalpha() else value
        if prefix not in _DATE_PREFIXES:
            problems.add(
                name, f"Unsupported prefix {prefix!r} (eq, ge, gt, le, lt).", "not-supported"
            )
            continue
        try:
            start, end, _precision = date_range(text, timezone)
        except ValueError:
            problems.add(name, f"{text!r} is not a FHIR date or dateTime.", "value")
            continue
        new_lower = {"eq": start, "ge": start, "gt": end}.get(prefix)
        new_upper = {"eq": end, "le": end, "lt": start}.get(prefix)
        if new_lower is not None:
            lower = new_lower if lower is None else max(lower, new_lower)
        if new_upper is not None:
            upper = new_upper if upper is None else min(upper, new_upper)
    return lower, upper


def _integer(
    name: str, values: list[str], problems: Problems, default: int, *, minimum: int = 0
) -> int:
    """Every integer search parameter (`_count`, `_offset`, `_page`) within the one bound of
    `carnet.http.MAX_REQUEST_INTEGER`: a huge or negative value is a 400, never an overflow."""
    if not values:
        return default
    if len(values) > 1:
        problems.add(name, "Give this parameter once.", "value")
        return default
    number = bounded_integer(values[0], minimum=minimum)
    if number is None:
        problems.add(name, f"Expected an integer from {minimum} to {MAX_REQUEST_INTEGER}.", "value")
        return default
    return number


def page_number(name: str, values: list[str], problems: Problems) -> int:
    """`_page` of the searches that page by number (from 1)."""
    return _integer(name, values, problems, 1, minimum=1)


PAGING = frozenset({"_count", "_offset"})


def paging(
    params: list[tuple[str, str]], problems: Problems, default: int = DEFAULT_COUNT
) -> tuple[int, int]:
    """`_count` (at most MAX_COUNT) and `_offset` of a search that pages in memory."""
    count = _integer("_count", [v for n, v in params if n == "_count"], problems, default)
    offset = _integer("_offset", [v for n, v in params if n == "_offset"], problems, 0)
    return min(count, MAX_COUNT), offset


def page_of(
    base: str,
    params: list[tuple[str, str]],
    entries: list[tuple[str, resources.Json]],
    count: int,
    offset: int,
    *,
    ignored: list[str] | None = None,
) -> resources.Json:
    """A searchset of one page of `entries` (all the readable ones, already narrowed), with the
    real total and first/previous/next/last links, so a search never truncates silently."""
    criteria = [(n, v) for n, v in params if n not in PAGING]
    links = paging_links(base, criteria, Page(offset, count, len(entries)))
    return resources.searchset(
        entries[offset : offset + count], len(entries), links, ignored=ignored or ()
    )


@dataclass(frozen=True)
class Page:
    offset: int
    count: int
    total: int


def paging_links(base: str, criteria: list[tuple[str, str]], page: Page) -> list[tuple[str, str]]:
    """self, first, previous, next and last links, keeping the criteria as given."""

    def url(offset: int) -> str:
        query = [*criteria, ("_count", str(page.count)), ("_offset", str(offset))]
        return f"{base}?{urlencode(query)}"

    links = [("self", url(page.offset)), ("first", url(0))]
    if page.count > 0:
        if page.offset > 0:
            links.append(("previous", url(max(page.offset - page.count, 0))))
        if page.offset + page.count < page.total:
            links.append(("next", url(page.offset + page.count)))
        last = max((page.total - 1) // page.count * page.count, 0) if page.total else 0
        links.append(("last", url(last)))
    return links


def document_search(
    params: list[tuple[str, str]], timezone: str, *, lenient: bool = False
) -> DocumentSearch:
    """ITI-67 parameters (see `resources.SEARCH_PARAMETERS`) plus `_count`, `_offset`, `_sort`;
    `lenient`: unknown parameters are left out (and listed) instead of refused."""
    problems = Problems()
    allowed = _names("DocumentReference") | set(resources.RESULT_PARAMETERS)
    ignored: list[str] = []
    if lenient:
        params, ignored = known_only(params, allowed)
    _unknown(params, allowed, problems)
    given: dict[str, list[str]] = {}
    for name, value in params:
        if name in allowed and value:
            given.setdefault(name, []).append(value)

    patients: list[PatientCriterion | None] = []
    for name in ("patient", "subject"):
        patients += [patient_reference(name, v, problems) for v in given.get(name, [])]
    for name in ("patient.identifier", "subject.identifier"):
        patients += [patient_identifier(name, v, problems) for v in given.get(name, [])]
    if len(patients) > 1:
        problems.add("patient", "Search one patient at a time.", "not-supported")

    query = SearchQuery(statuses=[])  # MHD: every status unless `status` is given
    query.type_codes = _codes(
        "type",
        given.get("type", []),
        reference.LOINC_SYSTEM,
        None,
        problems,
    )
    query.categories = _codes(
        "category",
        given.get("category", []),
        reference.CATEGORY_SYSTEM,
        frozenset(reference.categories()),
        problems,
    )
    query.statuses = _codes(
        "status", given.get("status", []), "", frozenset(DOCUMENT_STATUSES), problems
    )
    authors: list[str] = []
    for value in given.get("author.identifier", []):
        for token in value.split(","):
            system, code = _token(token)
            if system not in (None, RPPS_SYSTEM):
                problems.add(
                    "author.identifier",
                    f"Only the RPPS system {RPPS_SYSTEM} is supported.",
                    "value",
                )
                continue
            problem = rpps_problem(code)
            if problem:
                problems.add("author.identifier", f"Invalid RPPS: {problem} (rule ID-2).", "value")
                continue
            authors.append(code.strip())
    query.author_rpps = sorted(set(authors))
    if "_id" in given:
        query.ids = _ids(given["_id"])
    query.updated_from, query.updated_to = _dates(
        "_lastUpdated", given.get("_lastUpdated", []), timezone, problems
    )
    query.date_from, query.date_to = _dates("date", given.get("date", []), timezone, problems)
    query.period_from, query.period_to = _dates(
        "period", given.get("period", []), timezone, problems
    )
    query.count = min(
        _integer("_count", given.get("_count", []), problems, DEFAULT_COUNT), MAX_COUNT
    )
    query.offset = _integer("_offset", given.get("_offset", []), problems, 0)
    sorts = given.get("_sort", [])
    if sorts:
        if len(sorts) > 1 or sorts[0] not in _SORTS:
            problems.add("_sort", "Supported sorts: date, -date, period, -period.", "not-supported")
        else:
            query.sort = sorts[0]
    problems.raise_if_any()
    criteria = [(n, v) for n, v in params if n not in ("_count", "_offset")]
    return DocumentSearch(patients[0] if patients else None, query, criteria, ignored)


PATIENT_PARAMETERS = _names("Patient") | {"_count"}  # one patient per INS: _count changes nothing


def patient_search(params: list[tuple[str, str]]) -> tuple[PatientCriterion, int]:
    """`GET /fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|<NIR>` (rule ID-1)."""
    problems = Problems()
    allowed = PATIENT_PARAMETERS
    _unknown(params, allowed, problems)
    values = [v for n, v in params if n == "identifier" and v]
    count = _integer("_count", [v for n, v in params if n == "_count"], problems, DEFAULT_COUNT)
    found: PatientCriterion | None = None
    if len(values) != 1:
        problems.add("identifier", "Give exactly one identifier (INS-NIR).", "required")
    else:
        found = patient_identifier("identifier", values[0], problems)
    problems.raise_if_any()
    assert found is not None
    return found, count
