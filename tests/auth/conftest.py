"""Fixtures of the sign-in tests: the real OpenID provider of federated sign-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.oidc import RunningProvider, running_provider


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    """npm's `oidc-provider` on a free 127.0.0.1 port, for the whole session (of this worker)."""
    with running_provider(tmp_path_factory.mktemp("oidc")) as provider:
        yield provider
