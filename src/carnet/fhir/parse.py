"""FHIR JSON → Carnet, the shared parts: problems, JSON shapes, dates and patient references.

Nothing here touches the database. Every check collects its problem with a FHIRPath-like location
(`Bundle.entry[2].resource.type`) instead of stopping at the first, so that an invalid request is
answered with one OperationOutcome listing them all. Each domain reads its own resources in
`<domain>/fhir_in.py` with these pieces (DocumentReference and Binary in `documents.fhir_in`).

Rules: ID-1 (INS-NIR subject).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from carnet.accounts.rules import INS_NIR_SYSTEM, nir_problem, normalize_nir
from carnet.errors import CarnetError

Json = dict[str, Any]

ISSUE_TOO_LONG = "too-long"


# -- problems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    expression: str
    message: str
    kind: str = "invalid"  # FHIR issue type: invalid, required, value, structure, too-long…


@dataclass
class Problems:
    """Every problem found in one request, in the order found."""

    items: list[Problem] = field(default_factory=list)

    def add(self, expression: str, message: str, kind: str = "invalid") -> None:
        self.items.append(Problem(expression, message, kind))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, status: int | None = None) -> None:
        if self.items:
            raise InvalidResource(self.items, status=status)


class InvalidResource(CarnetError):
    """400 (or `status`) answered as an OperationOutcome with one issue per problem.

    When every problem is an oversized content, the answer is 413 (DOC-1 size limit).
    """

    code = "invalid-resource"
    status_code = 400

    def __init__(self, problems: list[Problem], *, status: int | None = None) -> None:
        first = problems[0].message if problems else "The resource is not valid."
        message = first if len(problems) == 1 else f"{len(problems)} problems: {first}"
        super().__init__(message, field=problems[0].expression if problems else None)
        if status is not None:
            self.status_code = status
        elif problems and all(p.kind == ISSUE_TOO_LONG for p in problems):
            self.status_code = 413
            self.code = "too-large"
        self.problems = list(problems)
        # Read by `carnet.http` to render one OperationOutcome issue per problem.
        self.issues = [
            {"field": p.expression, "message": p.message, "issue_type": p.kind} for p in problems
        ]


# -- JSON shape helpers --------------------------------------------------------------------------


def json_object(
    value: Any, path: str, problems: Problems, *, required: bool = False
) -> Json | None:
    if value is None:
        if required:
            problems.add(path, "This element is required.", "required")
        return None
    if not isinstance(value, dict):
        problems.add(path, "Expected a JSON object.", "structure")
        return None
    return value


def json_array(value: Any, path: str, problems: Problems, *, required: bool = False) -> list[Any]:
    if value is None:
        if required:
            problems.add(path, "This element is required.", "required")
        return []
    if not isinstance(value, list):
        problems.add(path, "Expected a JSON array.", "structure")
        return []
    if required and not value:
        problems.add(path, "At least one item is required.", "required")
    return value


def json_string(value: Any, path: str, problems: Problems, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            problems.add(path, "This element is required.", "required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(path, "Expected a non-empty string.", "structure")
        return None
    return value


def loose_string(
    value: Any, path: str, problems: Problems, *, required: bool = False
) -> str | None:
    """A string element of the agenda and profile bodies, where an empty string is no value."""
    if value is None or value == "":
        if required:
            problems.add(path, "Required.", "required")
        return None
    if not isinstance(value, str):
        problems.add(path, "Expected a string.", "structure")
        return None
    return value


def text_value(value: Any) -> str | None:
    """`value` when it is a string (codes, systems, references compared or looked up)."""
    return value if isinstance(value, str) else None


def json_objects(value: Any, path: str, problems: Problems) -> Iterator[tuple[int, str, Json]]:
    for index, item in enumerate(json_array(value, path, problems)):
        found = json_object(item, f"{path}[{index}]", problems)
        if found is not None:
            yield index, f"{path}[{index}]", found


# -- dates -------------------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})"
    r"(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<z>Z|[+-]\d{2}:\d{2}))?)?)?$"
)


def date_range(value: str, timezone: str) -> tuple[dt.datetime, dt.datetime, str]:
    """The instants [start, end) covered by a FHIR date/dateTime at its precision, and that
    precision (`year`, `month`, `day`, `time`). Days are counted in `timezone`. ValueError when
    `value` is not a FHIR date or dateTime."""
    match = _DATE_TIME.match(value)
    if match is None:
        raise ValueError(value)
    tz = ZoneInfo(timezone)
    year = int(match["y"])
    if match["H"] is not None:
        if match["S"] is None and match["z"] is None:
            raise ValueError(value)
        seconds = int(match["S"] or 0)
        micros = int(((match["f"] or ".0")[1:] + "000000")[:6])
        zone = dt.UTC if match["z"] == "Z" else _offset(match["z"])
        start = dt.datetime(
            year,
            int(match["m"]),
            int(match["d"]),
            int(match["H"]),
            int(match["M"]),
            seconds,
            micros,
            tzinfo=zone,
        )
        step = dt.timedelta(seconds=1) if match["f"] is None else dt.timedelta(microseconds=1)
        return start.astimezone(dt.UTC), (start + step).astimezone(dt.UTC), "time"
    if match["d"] is not None:
        day = dt.date(year, int(match["m"]), int(match["d"]))
        return _midnight(day, tz), _midnight(day + dt.timedelta(days=1), tz), "day"
    if match["m"] is not None:
        month = int(match["m"])
        first = dt.date(year, month, 1)
        following = dt.date(year + (month == 12), month % 12 + 1, 1)
        return _midnight(first, tz), _midnight(following, tz), "month"
    return _midnight(dt.date(year, 1, 1), tz), _midnight(dt.date(year + 1, 1, 1), tz), "year"


def _offset(text: str) -> dt.timezone:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tz).astimezone(dt.UTC)


def date_time(
    value: Any, path: str, problems: Problems, timezone: str
) -> tuple[dt.datetime, str] | None:
    text = json_string(value, path, problems)
    if text is None:
        return None
    try:
        start, _end, precision = date_range(text, timezone)
    except ValueError:
        problems.add(path, f"{text!r} is not a FHIR dateTime.", "value")
        return None
    return start, precision


# -- references --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectRef:
    """Who a resource is about: a Patient id or an INS-NIR (rule ID-1), and where it was said."""

    expression: str
    holder_id: uuid.UUID | None = None
    nir: str | None = None


def uuid_of(text: str, prefix: str) -> uuid.UUID | None:
    """The id in `Prefix/<uuid>`, or in an absolute URL ending so; None otherwise."""
    tail = text.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] == prefix:
        try:
            return uuid.UUID(tail[-1])
        except ValueError:
            return None
    return None


def identifier_value(
    value: Any, path: str, problems: Problems, system: str, what: str
) -> str | None:
    """The value of an Identifier of `system` (required), or None with a problem."""
    ident = json_object(value, path, problems, required=True)
    if ident is None:
        return None
    found_system = json_string(ident.get("system"), f"{path}.system", problems, required=True)
    found_value = json_string(ident.get("value"), f"{path}.value", problems, required=True)
    if found_system is not None and found_system != system:
        problems.add(f"{path}.system", f"{what} must use the system {system}.", "value")
        return None
    return found_value


def nir_value(value: str, path: str, problems: Problems) -> str | None:
    problem = nir_problem(value)
    if problem:
        problems.add(path, f"Invalid INS-NIR: {problem} (rule ID-1).", "value")
        return None
    return normalize_nir(value)


def contained_resources(
    resource: Json, path: str, problems: Problems
) -> dict[str, tuple[str, Json]]:
    """The contained resources of `resource` by id, with their locations."""
    found: dict[str, tuple[str, Json]] = {}
    for _i, where, item in json_objects(resource.get("contained"), f"{path}.contained", problems):
        if isinstance(item.get("id"), str):
            found[item["id"]] = (where, item)
    return found


def subject_reference(
    value: Any,
    path: str,
    problems: Problems,
    contained: dict[str, tuple[str, Json]] | None = None,
) -> SubjectRef | None:
    """`{reference: "Patient/<id>"}`, `{identifier: {system: INS-NIR, value: NIR}}`, or (PDSm) a
    reference `#id` to a contained Patient carrying the INS-NIR identifier (ID-1)."""
    ref = json_object(value, path, problems, required=True)
    if ref is None:
        return None
    literal = ref.get("reference")
    if isinstance(literal, str) and literal.startswith("#"):
        if contained is None or literal[1:] not in contained:
            problems.add(f"{path}.reference", "No contained resource has this id.", "value")
            return None
        target_path, target = contained[literal[1:]]
        if target.get("resourceType") != "Patient":
            problems.add(f"{path}.reference", "The subject must be a Patient.", "value")
            return None
        for _i, where, ident in json_objects(
            target.get("identifier"), f"{target_path}.identifier", problems
        ):
            if ident.get("system") == INS_NIR_SYSTEM:
                raw = json_string(ident.get("value"), f"{where}.value", problems, required=True)
                nir = nir_value(raw, f"{where}.value", problems) if raw else None
                return SubjectRef(path, nir=nir) if nir else None
        problems.add(
            f"{target_path}.identifier",
            f"The contained Patient needs an INS-NIR identifier ({INS_NIR_SYSTEM}).",
            "required",
        )
        return None
    if literal is not None:
        text = json_string(literal, f"{path}.reference", problems)
        if text is None:
            return None
        holder_id = uuid_of(text, "Patient")
        if holder_id is None:
            problems.add(f"{path}.reference", "Expected a reference to Patient/<id>.", "value")
            return None
        return SubjectRef(path, holder_id=holder_id)
    if ref.get("identifier") is None:
        problems.add(
            path,
            f"The patient is required: Patient/<id> or an identifier {INS_NIR_SYSTEM}|<NIR>.",
            "required",
        )
        return None
    raw = identifier_value(
        ref["identifier"], f"{path}.identifier", problems, INS_NIR_SYSTEM, "The patient (INS-NIR)"
    )
    if raw is None:
        return None
    nir = nir_value(raw, f"{path}.identifier.value", problems)
    return SubjectRef(path, nir=nir) if nir else None


def resource_type_problem(body: Any, expected: str) -> Problems:
    problems = Problems()
    if not isinstance(body, dict):
        problems.add(expected, f"The body must be a JSON object (a FHIR {expected}).", "structure")
    elif body.get("resourceType") != expected:
        problems.add(f"{expected}.resourceType", f"Expected a {expected}.", "structure")
    return problems
