"""The pure rules of throttling (`auth.rules`, LC-2, LC-4): who counts as one client, how long it
waits."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from carnet.auth import rules


@given(st.ip_addresses(v=6))
def test_an_ipv6_client_counts_as_its_64_network(address: Any) -> None:
    """Carnet decision (auth.rules): one subscriber holds a whole /64, so it is one client."""
    group = rules.client_group(str(address))
    if address.ipv4_mapped is not None:
        assert group == str(address.ipv4_mapped)
    else:
        assert group.endswith("/64")
        neighbour = address.exploded[:19] + ":ffff:ffff:ffff:ffff"
        assert rules.client_group(neighbour) == group


@given(st.integers(0, 200), st.integers(1, 10), st.integers(1, 3600))
def test_waits_are_free_then_double_up_to_the_longest(
    failures: int, free: int, longest: int
) -> None:
    """Carnet decision (auth.rules): short, growing delays instead of a long lock."""
    wait = rules.client_wait_seconds(failures, free, longest)
    if failures <= free:
        assert wait == 0
    else:
        assert 1 <= wait <= longest
        assert wait == min(longest, 2 ** (failures - free - 1))
