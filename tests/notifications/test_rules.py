"""The retry backoff and address rules of the outbox, as pure functions."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.notifications.rules import is_valid_email, next_attempt_delay


@pytest.mark.parametrize(
    ("attempts", "minutes"), [(1, 1), (2, 2), (3, 4), (4, 8), (9, 256), (10, 360), (50, 360)]
)
def test_backoff_doubles_from_one_minute_up_to_six_hours(attempts: int, minutes: int) -> None:
    assert next_attempt_delay(attempts) == dt.timedelta(minutes=minutes)


@given(st.integers(min_value=-5, max_value=10**12))
def test_backoff_is_monotonic_and_capped(attempts: int) -> None:
    delay = next_attempt_delay(attempts)
    assert dt.timedelta(minutes=1) <= delay <= dt.timedelta(hours=6)
    assert delay <= next_attempt_delay(attempts + 1)


@pytest.mark.parametrize("address", ["ana@example.org", "a.b+tag@mail.example.fr"])
def test_plain_addresses_are_valid(address: str) -> None:
    assert is_valid_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "ana",
        "ana@example",
        "ana @example.org",
        "ana@example.org, eve@example.org",
        "ana@example.org\r\nBcc: eve@example.org",
        "Ana <ana@example.org>",
        "a" * 250 + "@example.org",
    ],
)
def test_other_strings_are_not_addresses(address: str) -> None:
    assert not is_valid_email(address)
