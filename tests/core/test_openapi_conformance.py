"""`/openapi.json` says what happens: every operation, called by a holder and by a professional
with inputs schemathesis draws from the schema itself, answers no server error, and only the
statuses, content types and bodies the schema documents (issue 15).

Stateless and bounded (a few derandomized examples per operation), so that the run is repeatable
and stays within the suite's time budget. The schema is read once, at collection, from an app
built on a throwaway data directory; each test then calls the test's own app (fresh database).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import ASGIClient, get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from carnet.app import create_app
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from tests.factories import make_holder, make_professional

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _served_schema() -> dict[str, Any]:
    """The document `/openapi.json` serves, from an app on a temporary data directory."""
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        app = create_app(
            Settings(data_dir=data, database_url=f"sqlite:///{data / 'carnet.db'}")
        )
        document: dict[str, Any] = app.openapi()
        app.state.database.dispose()
        return document


# Positive and negative inputs from the fuzzing phase only, bounded below: the coverage phase's
# boundary cases (about 25 more calls an operation) would triple the run; in deeper runs made while
# writing this test (coverage on, 40 to 50 examples) they found nothing the fuzzing did not.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(_served_schema(), config=CONFIG)


def _token(database: Database, kind: PrincipalKind) -> str:
    with database.transaction() as session:
        person = make_holder(session) if kind is PrincipalKind.HOLDER else make_professional(session)
        token, _ = issue_token(session, Principal(kind, person.id), ttl=dt.timedelta(hours=1))
    return token


@pytest.fixture(params=[PrincipalKind.HOLDER, PrincipalKind.PROFESSIONAL], ids=lambda k: k.value)
def bearer(request: pytest.FixtureRequest, database: Database) -> dict[str, str]:
    """The Authorization header of a holder, then of a professional."""
    return {"Authorization": f"Bearer {_token(database, request.param)}"}


@pytest.fixture
def asgi(app: FastAPI) -> Iterator[ASGIClient]:
    """The test's app, reached in process. Its lifespan is not started (Carnet's app has nothing to
    start), so that schemathesis does not keep every test's app alive to the end of the run."""
    session = get_client(app)  # not `with`: entering it would start and keep the lifespan
    try:
        yield session
    finally:
        session.close()


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, asgi: ASGIClient, bearer: dict[str, str]
) -> None:
    response = case.call(session=asgi, headers=bearer)
    case.validate_response(response, checks=CHECKS, headers=bearer)
