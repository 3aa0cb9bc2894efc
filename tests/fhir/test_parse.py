"""The FHIR parsers never crash: any JSON, anywhere in a Bundle, gives a result or an
InvalidResource listing located problems (never a 500). Also the FHIR date ranges used by the
`date` and `period` searches."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.accounts.rules import make_nir, make_rpps
from carnet.documents import fhir_in, fhir_in_bundle
from carnet.fhir import parse, search
from tests.fhir.support import pdf, provide_bundle

NIR = make_nir(1, 1980, 1, "75", 1, 1)
RPPS = make_rpps(10_000_001)
VALID = provide_bundle(NIR, RPPS, [pdf("fuzz")])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from(["", "x", "current", "urn:uuid:1", "#a", "Patient/x", "Binary/1", "AA=="])
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


PATHS = _paths(VALID)[1:]


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(document)
    target = copied
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copied


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), json_values)
def test_any_value_anywhere_in_a_bundle_is_handled(path: tuple[Any, ...], value: Any) -> None:
    body = _replace(VALID, path, value)
    try:
        fhir_in_bundle.transaction_bundle(body, limit=5 * 1024 * 1024, timezone="Europe/Paris")
    except parse.InvalidResource as error:
        assert error.problems
        assert all(p.expression and p.message for p in error.problems)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_body_is_handled(body: Any) -> None:
    with pytest.raises(parse.InvalidResource):
        fhir_in_bundle.transaction_bundle(body, limit=1024, timezone="Europe/Paris")
    problems = parse.Problems()
    if isinstance(body, dict):
        fhir_in.document_reference(body, "DocumentReference", problems, limit=1024, timezone="UTC")
    assert problems or not isinstance(body, dict) or body.get("resourceType") == "DocumentReference"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["date", "type", "_count", "status", "x"]), st.text(max_size=12)),
        max_size=4,
    )
)
def test_any_search_parameters_are_handled(params: list[tuple[str, str]]) -> None:
    try:
        search.document_search(
            [("patient", "Patient/00000000-0000-0000-0000-000000000001"), *params], "Europe/Paris"
        )
    except parse.InvalidResource as error:
        assert error.problems


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2025", "2024-12-31T23:00:00+00:00", "2025-12-31T23:00:00+00:00"),
        ("2025-02", "2025-01-31T23:00:00+00:00", "2025-02-28T23:00:00+00:00"),
        ("2025-07-14", "2025-07-13T22:00:00+00:00", "2025-07-14T22:00:00+00:00"),
        ("2025-07-14T10:00:00Z", "2025-07-14T10:00:00+00:00", "2025-07-14T10:00:01+00:00"),
        (
            "2025-07-14T10:00:00.5+02:00",
            "2025-07-14T08:00:00.500000+00:00",
            "2025-07-14T08:00:00.500001+00:00",
        ),
    ],
)
def test_date_ranges_follow_the_precision(value: str, start: str, end: str) -> None:
    """Days, months and years are counted in Europe/Paris; times carry their zone."""
    found = parse.date_range(value, "Europe/Paris")
    assert (found[0], found[1]) == (
        dt.datetime.fromisoformat(start),
        dt.datetime.fromisoformat(end),
    )


@pytest.mark.parametrize(
    "value", ["2025-13", "2025-02-30", "2025-07-14T10:00", "14/07/2025", "2025-07-14T25:00:00Z"]
)
def test_bad_dates_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse.date_range(value, "Europe/Paris")
