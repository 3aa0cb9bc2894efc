"""Audit fixtures: the checkpoint signer of the test's data dir and a small committed log."""

from __future__ import annotations

import pytest

from carnet.audit.signing import Signer, load_signer
from carnet.config import Settings
from carnet.db import Database
from tests.audit.support import Log, populate


@pytest.fixture
def signer(settings: Settings) -> Signer:
    """The same key the `carnet audit` commands load."""
    return load_signer(settings.effective_audit_signing_key_file)


@pytest.fixture
def log(database: Database) -> Log:
    """Holder A with 5 entries, holder B with 3, the system chain with 2; committed."""
    return populate(database)
