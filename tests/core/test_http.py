"""The HTTP application: probes, error shapes, security headers, and deny by default."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from carnet.access.routes import declared_rules
from carnet.app import create_app
from carnet.config import Settings
from carnet.db import Database


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(settings: Settings, vault) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, Database("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    app.state.vault = vault
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_security_headers_and_request_id(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_route_is_a_json_error_with_request_id(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    body = response.json()["error"]
    assert body["code"] == "not-found"
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_fhir_errors_are_operation_outcomes(client: TestClient) -> None:
    response = client.get("/fhir/Nothing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"


def test_crash_gives_no_stack_trace_nor_data(
    app, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    from carnet.access.routes import public

    secret = "allergie-penicilline-SECRET"

    @app.get("/boom", dependencies=[public()])
    def boom() -> None:
        raise RuntimeError(secret)

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.INFO):
        response = client.get("/boom")
    assert response.status_code == 500
    assert secret not in response.text
    assert "Traceback" not in response.text
    assert response.json()["error"]["code"] == "internal-error"
    from carnet.logs import JsonFormatter

    rendered = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert secret not in rendered
    assert "RuntimeError" in rendered


def test_every_route_declares_exactly_one_access_rule(app) -> None:  # type: ignore[no-untyped-def]
    """Deny by default (Indivo X): a route without a declared rule fails this test."""
    routes = list(declared_rules(app))
    assert [r for r in routes if len(r[2]) != 1] == []
    assert {"/healthz", "/readyz"} <= {path for path, _methods, _rules in routes}


def test_route_coverage_test_catches_an_undeclared_route(app) -> None:  # type: ignore[no-untyped-def]
    @app.get("/undeclared")
    def undeclared() -> None:
        return None

    found = [rules for path, _m, rules in declared_rules(app) if path == "/undeclared"]
    assert found == [[]]


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Carnet"
    assert "/healthz" in spec["paths"]


def _walk(dependant):  # type: ignore[no-untyped-def]
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)


def test_every_session_commits_before_the_response(app) -> None:  # type: ignore[no-untyped-def]
    """ACC-8: the audit entry of a read is durable before the data leaves. FastAPI runs the exit
    code of `yield` dependencies after the response unless they are function-scoped."""
    from fastapi.routing import APIRoute, iter_route_contexts

    from carnet.http import db_session

    late = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        dependant = getattr(context, "dependant", None) or context.original_route.dependant
        for dep in _walk(dependant):
            if dep.call is db_session and dep.scope != "function":
                late.append(context.path)
    assert late == []


def test_a_route_without_a_unit_of_work_resolves_its_caller_alone(app) -> None:  # type: ignore[no-untyped-def]
    """A route that opens its own transactions (an upload streams megabytes between two) must not
    get a unit of work from its access rule: that unit would hold SQLite's write lock while the
    route waits for it. Every other rule resolves the caller in the request's unit (issue 13)."""
    from fastapi.routing import APIRoute, iter_route_contexts

    from carnet.access.routes import ACCESS_RULE_MARK, HANDS_UNIT
    from carnet.http import db_session

    wrong, alone = [], []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        dependant = getattr(context, "dependant", None) or context.original_route.dependant
        rules = [d for d in dependant.dependencies if hasattr(d.call, ACCESS_RULE_MARK)]
        route_unit = any(d.call is db_session for d in dependant.dependencies) or any(
            getattr(rule.call, HANDS_UNIT, False) for rule in rules
        )
        rule_unit = any(d.call is db_session for rule in rules for d in _walk(rule))
        if rule_unit and not route_unit:
            wrong.append(context.path)
        if not rule_unit and not route_unit and getattr(rules[0].call, ACCESS_RULE_MARK) != "public":
            alone.append(context.path)
    assert wrong == []
    assert "/api/v1/me/documents" in alone  # the upload: its rule opens no unit of work


def test_a_failing_commit_is_not_reported_as_success(app, database) -> None:  # type: ignore[no-untyped-def]
    from fastapi import Depends
    from sqlalchemy.orm import Session

    from carnet.access.routes import public
    from carnet.accounts.models import Operator
    from carnet.http import db_session

    with database.transaction() as session:
        session.add(Operator(name="taken"))

    @app.post("/dup", dependencies=[public()])
    def dup(session: Session = Depends(db_session, scope="function")) -> dict[str, str]:
        session.add(Operator(name="taken"))  # unique name: fails at commit, after the endpoint
        return {"status": "ok"}

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/dup")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
