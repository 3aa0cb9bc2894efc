"""Growth curves (issue 7): the LMS engine, the operator's reference file, a child's points and the
holder API. The reference is a synthetic file written by the test: Carnet ships no growth data."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from carnet import clock
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import ConfigurationError
from carnet.profile import growth, growth_reference
from tests.documents.samples import family
from tests.profile.growth_support import LICENCE, SOURCE, write_reference
from tests.profile.support import API, bearer, cast

lms_params = st.builds(
    growth.Lms,
    st.floats(-2, 2, allow_nan=False).map(lambda v: 0.0 if abs(v) < 1e-6 else v),
    st.floats(0.5, 200),
    st.floats(0.01, 0.3),
)


@given(lms=lms_params, z=st.floats(-3, 3))
def test_z_to_value_to_z_round_trips(lms: growth.Lms, z: float) -> None:
    if lms.l != 0 and 1 + lms.l * lms.s * z <= 0:
        return  # outside the Box-Cox domain (refused, see below)
    value = growth.value_at(z, lms)
    assert value > 0
    assert growth.z_score(value, lms) == pytest.approx(z, abs=1e-7)


@given(lms=lms_params, a=st.floats(-2.5, 2.5), b=st.floats(-2.5, 2.5))
def test_a_higher_z_is_a_higher_value(lms: growth.Lms, a: float, b: float) -> None:
    domain = all(lms.l == 0 or 1 + lms.l * lms.s * z > 0 for z in (a, b))
    if a < b and domain:
        assert growth.value_at(a, lms) <= growth.value_at(b, lms)


def test_the_lms_formulas() -> None:
    lms = growth.Lms(0.5, 10.0, 0.1)
    assert growth.z_score(10.0, lms) == 0  # the median is z = 0
    assert growth.z_score(lms.m * (1 + 0.5 * 0.1 * 2) ** 2, lms) == pytest.approx(2)
    log = growth.Lms(0.0, 10.0, 0.1)
    assert growth.z_score(10 * math.exp(0.1), log) == pytest.approx(1)  # L = 0: ln(X/M)/S
    assert growth.value_at(-1, log) == pytest.approx(10 * math.exp(-0.1))
    assert growth.z_of_percentile(50) == pytest.approx(0)
    assert growth.z_of_percentile(97) == pytest.approx(1.8808, abs=1e-4)
    assert growth.percentile_of(growth.z_of_percentile(3)) == pytest.approx(3)
    with pytest.raises(ValueError):
        growth.value_at(-30, lms)  # 1 + L·S·z <= 0
    with pytest.raises(ValueError):
        growth.z_score(0, lms)


def test_interpolation_between_tabulated_ages_and_nothing_outside() -> None:
    table = growth.Table((0.0, 10.0), (growth.Lms(1, 3, 0.1), growth.Lms(0, 5, 0.2)))
    assert table.at(5) == growth.Lms(0.5, 4, pytest.approx(0.15))  # type: ignore[arg-type]
    assert table.at(0) == growth.Lms(1, 3, 0.1)
    assert table.at(-1) is None and table.at(10.5) is None
    with pytest.raises(ValueError):
        growth.Table((1.0, 1.0), (growth.Lms(1, 3, 0.1), growth.Lms(1, 3, 0.1)))


def _csv_rows(path: Path) -> list[list[str]]:
    return [
        line.split(",")
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    ][1:]


def test_p50_at_known_ages_is_the_sources_own_median(tmp_path: Path) -> None:
    """The P50 curve passes through M of the file at every tabulated age, read from the file."""
    path = write_reference(tmp_path / "reference.csv")
    reference = growth_reference.load(path)
    assert reference is not None
    assert (reference.source, reference.licence) == (SOURCE, LICENCE)
    rows = [r for r in _csv_rows(path) if r[0] == "weight" and r[1] == "F"]
    table = reference.table("weight", "F")
    assert table is not None
    for _indicator, _sex, day, _l, m, _s in rows[:: max(1, len(rows) // 12)]:
        lms = table.at(float(day))
        assert lms is not None
        assert growth.value_at(0, lms) == pytest.approx(float(m))
    # and between two rows, the median is between their medians
    (d0, m0), (d1, m1) = ((float(r[2]), float(r[4])) for r in rows[10:12])
    middle = table.at((d0 + d1) / 2)
    assert middle is not None and min(m0, m1) <= middle.m <= max(m0, m1)


def test_curves_and_points_against_the_reference(tmp_path: Path) -> None:
    reference = growth_reference.load(write_reference(tmp_path / "reference.csv"))
    birth = dt.date(2024, 1, 10)
    table = reference.table("weight", "M") if reference else None
    assert table is not None
    at_one = table.at(365)
    assert at_one is not None
    median_at_one = growth.value_at(0, at_one)
    points = growth.child_points(
        birth,
        [
            (dt.date(2025, 1, 9), "weight", median_at_one),
            (dt.date(2025, 1, 9), "height", 75.0),
            (dt.date(2025, 1, 9), "temperature", 37.0),  # not an indicator
            (dt.date(2023, 1, 1), "weight", 3.0),  # before birth: ignored
        ],
    )
    assert [p.value for p in points["weight"]] == [median_at_one]
    assert points["bmi"][0].value == round(median_at_one / 0.75**2, 1)
    chart = growth.curves(reference, "weight", "M", points["weight"], today_age=400)
    assert set(chart.lines) == set(growth.PERCENTILES)
    assert chart.start_day == 0 and chart.end_day >= 400
    point = chart.points[0]
    assert point.z == 0 and point.percentile == 50
    for age, value in chart.lines[50]:
        lms = table.at(age)
        assert lms is not None and value == pytest.approx(lms.m)
    lows, highs = chart.lines[3], chart.lines[97]
    assert all(lo[1] < hi[1] for lo, hi in zip(lows, highs, strict=True))
    bare = growth.curves(None, "weight", "M", points["weight"], today_age=400)
    assert bare.lines == {} and bare.points[0].z is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("indicator,sex,L,M,S\n", "the header must name"),
        ("indicator,sex,age_days,L,M,S\nweight,X,0,1,3,0.1\n", "line 2: sex must be M or F"),
        ("indicator,sex,age_days,L,M,S\nlength,M,0,1,3,0.1\n", "unknown indicator 'length'"),
        ("indicator,sex,age_days,L,M,S\nweight,M,0,1,zero,0.1\n", "must be numbers"),
        ("indicator,sex,age_days,L,M,S\nweight,M,0,1,-3,0.1\n", "M and S must be > 0"),
        ("indicator,sex,age_days,L,M,S\nweight,M,0,1,3,0.1\nweight,M,0,1,3,0.1\n", "twice"),
        ("indicator,sex,age_days,L,M,S\n", "no table"),
    ],
)
def test_a_broken_reference_file_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        growth_reference.parse(text, "ref.csv")


def test_months_are_read_as_who_months() -> None:
    reference = growth_reference.parse(
        "# source: s\nindicator,sex,age_months,L,M,S\nheight,F,61,1,110,0.04\nheight,F,62,1,111,0.04\n"
    )
    table = reference.table("height", "F")
    assert table is not None and table.first_age == pytest.approx(61 * 30.4375)
    assert reference.licence == "not stated"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    path = write_reference(tmp_path / "growth.csv")
    return settings.model_copy(update={"growth_reference_file": path})


def test_a_childs_growth_through_the_api(client: TestClient, database: Database) -> None:
    fam = family(database)
    parent = bearer(database, Principal(PrincipalKind.HOLDER, fam.parent.id), fam.child.id)
    day = clock.today() - dt.timedelta(days=20)
    for kind, value in (("weight", 30.0), ("height", 135.0), ("head_circumference", 52.0)):
        body = {"kind": kind, "value": value, "date": day.isoformat()}
        assert (
            client.post(f"{API}/me/profile/measurement", json=body, headers=parent).status_code
            == 201
        )
    response = client.get(f"{API}/me/growth", headers=parent)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reference"] == SOURCE and body["licence"] == LICENCE
    charts = {c["indicator"]: c for c in body["charts"]}
    assert set(charts) == {"weight", "height", "head_circumference", "bmi"}
    assert charts["weight"]["points"][0]["value"] == 30.0
    assert charts["weight"]["points"][0]["z"] is not None
    assert charts["bmi"]["points"][0]["value"] == round(30 / 1.35**2, 1)
    assert set(charts["height"]["percentiles"]) == {"3", "15", "50", "85", "97"}
    # head circumference references stop at 5 years: the point is shown without a z-score
    assert charts["head_circumference"]["points"][0]["z"] is None
    # an adult's space has no growth curves
    adult = cast(database)
    refused = client.get(f"{API}/me/growth", headers=adult.holder)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not-a-child"
