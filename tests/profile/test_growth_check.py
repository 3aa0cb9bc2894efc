"""`carnet growth check FILE` (issue 16): the operator validates a growth reference before
configuring it; every problem is named with its line, exit 0 when the server could use the file
and 1 when not. Carnet ships no reference: the files here are made up (tests/profile/growth_support)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.profile import growth_reference
from tests.profile.growth_support import SOURCE, write_reference

HEADER = "# source: s\n# licence: l\nindicator,sex,age_days,L,M,S\n"


def _both_sexes(*rows: str) -> str:
    """`rows` for boys, and one sound row for girls of the same indicators."""
    indicators = {row.split(",")[0] for row in rows}
    girls = [f"{i},F,0,1,{ {'weight': 3, 'height': 50, 'head_circumference': 34, 'bmi': 13}[i]},0.1" for i in indicators]
    return HEADER + "\n".join([*rows, *girls]) + "\n"


def test_a_sound_reference_passes_and_says_how_to_use_it(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_reference(tmp_path / "reference.csv")
    status, out, err = run_cli("growth", "check", str(path))
    assert (status, err) == (0, "")
    assert "reference.csv: fit to be the growth reference." in out
    assert f"source: {SOURCE}" in out
    assert "weight F: 232 ages, day 0 to day 6930" in out
    assert f"CARNET_GROWTH_REFERENCE_FILE={path.resolve()}" in out


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        (("weight,M,0,0.3,3346,0.14",), "line 4: weight median M = 3346 is outside 0.3-200 kg"),
        (("height,M,0,1,1.5,0.04",), "line 4: height median M = 1.5 is outside 30-230 cm"),
        (("weight,M,0,0.14,3.3,0.8",), "line 4: L = 0.14 or S = 0.8 is beyond"),
        (("bmi,M,0,3,13,0.45",), "line 4: the percentiles P3 to P97 cannot be drawn in order"),
        (("weight,M,8000,0.3,30,0.14",), "line 4: age 8000 days is past 20 years"),
        (("weight,M,0,0.3,3.3,0.14", "weight,M,0,0.3,3.3,0.14"), "line 5: weight (M) has the same age twice (first on line 4)"),
        (("weight,X,0,0.3,3.3,0.14",), "line 4: sex must be M or F."),
        (("weight,M,zero,0.3,3.3,0.14",), "line 4: age, L, M and S must be numbers."),
    ],
)  # fmt: skip
def test_each_problem_is_named_with_its_line(run_cli, tmp_path: Path, rows, says) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ref.csv"
    path.write_text(_both_sexes(*rows), encoding="utf-8")
    status, out, err = run_cli("growth", "check", str(path))
    assert status == 1 and out == ""
    assert f"Error: ref.csv, {says}" in err
    assert "ref.csv cannot be used as the growth reference." in err


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    text = HEADER + "weight,M,0,0.3,3346,0.14\nweight,F,0,1,3,zero\nheight,M,0,1,50,0.04\n"
    report = growth_reference.check(text, "ref.csv")
    assert [p.where("ref.csv") for p in report.errors] == [
        "ref.csv: weight is given for sex M only: add the rows of sex F.",  # its F row is broken
        "ref.csv: height is given for sex M only: add the rows of sex F.",
        "ref.csv, line 4: weight median M = 3346 is outside 0.3-200 kg: is the unit right?",
        "ref.csv, line 5: age, L, M and S must be numbers.",
    ]
    assert report.reference is None


def test_missing_tables_and_source_lines_are_warnings_only(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ref.csv"
    path.write_text("indicator,sex,age_months,L,M,S\nheight,M,61,1,110,0.04\nheight,F,61,1,109,0.04\n")
    status, out, err = run_cli("growth", "check", str(path))
    assert status == 0, err
    assert "Warning: ref.csv: no weight table: those charts will show no percentiles." in err
    assert "Warning: ref.csv: no '# licence:' line: the charts will say 'not stated'." in err
    assert "height F: 1 ages, day 1856.69 to day 1856.69" in out


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"indicator,sex,L,M,S\n", "ref.csv, line 1: the header must name indicator, sex"),
        (b"\xff\xfeweight", "ref.csv: not UTF-8 text."),
        (b"# source: s\nindicator,sex,age_days,L,M,S\n", "ref.csv: no table in the file."),
    ],
)
def test_an_unreadable_file_is_one_error(run_cli, tmp_path: Path, content: bytes, says: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ref.csv"
    path.write_bytes(content)
    status, _out, err = run_cli("growth", "check", str(path))
    assert status == 1
    assert f"Error: {says}" in err
    status, _out, err = run_cli("growth", "check", str(tmp_path / "absent.csv"))
    assert status == 1 and "cannot read" in err


def test_what_check_accepts_the_server_loads(tmp_path: Path) -> None:
    path = write_reference(tmp_path / "reference.csv")
    report = growth_reference.check(path.read_text(encoding="utf-8"), path.name)
    assert report.errors == [] and report.reference == growth_reference.load(path)
