"""The password chosen at activation (rule LC-4) never holds the holder's birth date, whatever the
usual way it is written: day-month-year, year-month-day or month-day-year, with or without
leading zeros, a 4- or 2-digit year, glued or separated by / - . space or _."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from carnet.accounts.passwords import password_problem
from carnet.accounts.rules import DATE_SEPARATORS, birth_date_forms

BIRTH_MESSAGE = "The password must not contain the birth date."
BIRTH = dt.date(1980, 1, 1)


def _write(day: dt.date, order: str, separator: str, padded: bool, long_year: bool) -> str:
    parts = {
        "d": f"{day.day:02d}" if padded else str(day.day),
        "m": f"{day.month:02d}" if padded else str(day.month),
        "y": f"{day.year:04d}" if long_year else f"{day.year % 100:02d}",
    }
    return separator.join(parts[letter] for letter in order)


def test_lc4_the_issues_example_and_the_usual_forms_are_refused() -> None:
    """LC-4: `19800101…` (year first, glued) was accepted; it is refused now, as are the
    French, ISO and dotted forms and the short year."""
    for written in (
        "19800101",
        "01011980",
        "1980-01-01",
        "01/01/1980",
        "01-01-1980",
        "01.01.1980",
        "1/1/1980",
        "010180",
        "1980/01/01",
        "01 01 1980",
    ):
        assert password_problem(f"soleil levant {written}!", "marie", BIRTH) == BIRTH_MESSAGE


@given(
    day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)),
    order=st.sampled_from(["dmy", "ymd", "mdy"]),
    separator=st.sampled_from(DATE_SEPARATORS),
    padded=st.booleans(),
    long_year=st.booleans(),
    before=st.text(alphabet="abcdefghij !?", max_size=8),
    after=st.text(alphabet="klmnopqrst !?", max_size=8),
)
def test_lc4_any_usual_form_of_the_birth_date_anywhere_is_refused(
    day: dt.date,
    order: str,
    separator: str,
    padded: bool,
    long_year: bool,
    before: str,
    after: str,
) -> None:
    """LC-4: every usual written form, anywhere in the password, is refused (glued forms of
    fewer than 6 digits aside: too many passwords hold them by chance)."""
    written = _write(day, order, separator, padded, long_year)
    if not separator and len(written) < 6:
        assert written not in birth_date_forms(day)
        return
    password = f"{before}vent du large {written}{after}"
    assert password_problem(password, "marie", day) == BIRTH_MESSAGE


@given(
    day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)),
    words=st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=12, max_size=40),
)
def test_lc4_a_password_without_the_date_is_not_refused_for_it(day: dt.date, words: str) -> None:
    """LC-4: passwords without digits are never refused for the birth date."""
    assert password_problem(words, "marie", day) != BIRTH_MESSAGE
