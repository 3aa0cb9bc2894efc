"""Every integer a request carries is bounded once (`carnet.http.MAX_REQUEST_INTEGER`): a huge,
negative or overflowing page number, `_count`, `_offset` or `_page` is a 400, never a 500.

The fuzz walks the application's routes, so a route added later is walked too: its declared
integer parameters, plus the integer parameters the FHIR searches (`_count`, `_offset`, `_page`)
and the portal pages (`page`) read by hand. Values are sent with real credentials (the holder, a
professional of their care team, the holder's portal session) on a space with documents, so that
the numbers reach the SQL OFFSET (PostgreSQL overflows a bigint differently from SQLite).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.http import MAX_REQUEST_INTEGER
from carnet.vault.service import Vault
from tests.portal.support import deposit, log_in, make_account, make_professional_in_care

TTL = dt.timedelta(hours=1)
FHIR_INTEGERS = ("_count", "_offset", "_page")
PORTAL_INTEGERS = ("page",)
# Beyond the bound, beyond a 64-bit signed integer, beyond a C long, and below zero.
EDGES = (
    str(MAX_REQUEST_INTEGER + 1),
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999",
    "-1",
    "-9223372036854775809",
)
# Routes that end a session or leave the site: walking them would end the credential.
SKIPPED = frozenset({"/logout", "/pro/logout"})


@dataclass(frozen=True)
class Target:
    path: str  # with its path parameters filled in
    name: str  # the integer parameter
    base: tuple[tuple[str, str], ...]  # what the route needs to reach its search


@dataclass(frozen=True)
class World:
    holder_id: uuid.UUID
    nir: str
    document_id: uuid.UUID
    holder: dict[str, str]
    pro: dict[str, str]


def _int_params(dependant: Any) -> Iterator[tuple[str, Any]]:
    """(name, field info) of every integer query, path or form parameter, dependencies included."""
    for param in (*dependant.query_params, *dependant.path_params, *dependant.body_params):
        if param.field_info.annotation is int:
            yield param.alias or param.name, param.field_info
    for sub in dependant.dependencies:
        yield from _int_params(sub)


def _contexts(app: FastAPI) -> Iterator[tuple[str, frozenset[str], Any]]:
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        dependant = getattr(context, "dependant", None) or context.original_route.dependant
        yield str(context.path), frozenset(context.methods or ()), dependant


def _fill(path: str, dependant: Any, world: World) -> str:
    for param in dependant.path_params:
        name = param.name
        if name in ("holder_id", "patient_id"):
            value = str(world.holder_id)
        elif name == "document_id":
            value = str(world.document_id)
        elif param.field_info.annotation is uuid.UUID or name.endswith("_id"):
            value = str(uuid.uuid4())
        else:
            value = "vaccinations"
        path = path.replace("{" + name + "}", value)
    return path


def targets(app: FastAPI, world: World) -> list[Target]:
    """Every (GET route, integer parameter) pair of the application."""
    found: list[Target] = []
    for path, methods, dependant in _contexts(app):
        if "GET" not in methods or path in SKIPPED or path.startswith(("/static", "/lang")):
            continue
        names = {name for name, _info in _int_params(dependant)}
        base: tuple[tuple[str, str], ...] = ()
        if path.startswith("/fhir"):
            names |= set(FHIR_INTEGERS)
            if "{" not in path:
                base = (
                    (("identifier", f"{INS_NIR_SYSTEM}|{world.nir}"),)
                    if path == "/fhir/Patient"
                    else (("patient", f"Patient/{world.holder_id}"),)
                )
        elif not path.startswith("/api"):
            names |= set(PORTAL_INTEGERS)
        filled = _fill(path, dependant, world)
        found += [Target(filled, name, base) for name in sorted(names)]
    return found


def _world(database: Database, vault: Vault, settings: Settings) -> World:
    """A holder with a portal account and documents, and a professional of their care team."""
    holder = make_account(database)
    pro = make_professional_in_care(database, holder)
    with database.transaction() as session:
        holder_token, _ = issue_token(session, Principal(PrincipalKind.HOLDER, holder.id), ttl=TTL)
        pro_token, _ = issue_token(session, Principal(PrincipalKind.PROFESSIONAL, pro.id), ttl=TTL)
    document_id = deposit(database, vault, settings, holder, author=pro)
    return World(
        holder.id,
        holder.nir,
        uuid.UUID(str(document_id)),
        {"Authorization": f"Bearer {holder_token}"},
        {"Authorization": f"Bearer {pro_token}"},
    )


@pytest.fixture
def world(database: Database, vault: Vault, settings: Settings) -> World:
    return _world(database, vault, settings)


def _send(client: TestClient, target: Target, value: str, headers: dict[str, str]) -> int:
    params = [*target.base, (target.name, value)]
    response = client.get(target.path, params=params, headers=headers, follow_redirects=False)
    return response.status_code


def test_every_declared_integer_parameter_has_the_shared_bound(app: FastAPI) -> None:
    """Every integer query/path/form parameter a route declares (API and portal) has a lower
    bound of at least 0 and an upper bound within MAX_REQUEST_INTEGER (`http.PageNumber`): a
    route added without one fails here (the bound of issue 12, SRV-4, ACC-8, DOC-1 lists)."""
    unbounded = []
    for path, methods, dependant in _contexts(app):
        for name, info in _int_params(dependant):
            ge = [m.ge for m in info.metadata if getattr(m, "ge", None) is not None]
            le = [m.le for m in info.metadata if getattr(m, "le", None) is not None]
            if not ge or not le or min(ge) < 0 or max(le) > MAX_REQUEST_INTEGER:
                unbounded.append(f"{sorted(methods)} {path} {name}")
    assert unbounded == []


def test_huge_page_numbers_answer_400_in_each_front_door(
    client: TestClient, database: Database, world: World
) -> None:
    """SRV-4, ACC-8, DOC-1 lists: the examples of the issue answer 400 in the shape of their
    front door (JSON error, FHIR OperationOutcome, readable portal page)."""
    huge = "99999999999999999999"
    api = client.get(f"/api/v1/me/reimbursements?page={huge}", headers=world.holder)
    assert api.status_code == 400 and api.json()["error"]["code"] == "invalid-input"
    fhir = client.get(
        f"/fhir/DocumentReference?patient={world.holder_id}&_offset={huge}", headers=world.pro
    )
    assert fhir.status_code == 400
    assert fhir.json()["resourceType"] == "OperationOutcome"
    assert fhir.json()["issue"][0]["expression"] == ["_offset"]
    bigint = client.get(
        f"/fhir/DocumentReference?patient={world.holder_id}&_offset=9223372036854775807",
        headers=world.pro,
    )
    assert bigint.status_code == 400
    log_in(client, database)
    for path in (f"/history?page={huge}", f"/documents?page={huge}"):
        page = client.get(path)
        assert page.status_code == 400, path
        assert "text/html" in page.headers["content-type"]
    assert client.get("/history?page=2").status_code == 200


def test_no_integer_parameter_answers_a_5xx_at_its_edges(
    client: TestClient, database: Database, app: FastAPI, world: World
) -> None:
    """Every (route, integer parameter) pair, at the edges (bound + 1, 2^63 - 1, 2^63, 10^20,
    -1, -2^63 - 1), for the holder and the professional (API, FHIR) and the holder's portal
    session: never a 5xx (issue 12, the shared bound)."""
    walked = targets(app, world)
    assert any(t.name == "_offset" for t in walked) and any(t.path == "/history" for t in walked)
    failures = []
    for headers in (world.holder, world.pro):
        for target in walked:
            if not target.path.startswith(("/api", "/fhir")):
                continue
            for value in EDGES:
                status = _send(client, target, value, headers)
                if status >= 500:
                    failures.append((target.path, target.name, value, status))
    log_in(client, database)
    for target in walked:
        if target.path.startswith(("/api", "/fhir")):
            continue
        for value in EDGES:
            status = _send(client, target, value, {})
            if status >= 500:
                failures.append((target.path, target.name, value, status))
    assert failures == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_integers_never_answer_a_5xx(
    client: TestClient, database: Database, app: FastAPI, world: World, data: st.DataObject
) -> None:
    """Hypothesis-drawn integers (huge, negative, around the 32- and 64-bit limits) on a drawn
    (route, parameter) pair, as the holder or the professional: never a 5xx."""
    walked = [t for t in targets(app, world) if t.path.startswith(("/api", "/fhir"))]
    target = data.draw(st.sampled_from(walked))
    value = data.draw(
        st.one_of(
            st.integers(min_value=-(2**80), max_value=2**80),
            st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]),
        )
    )
    headers = data.draw(st.sampled_from([world.holder, world.pro]))
    assert _send(client, target, str(value), headers) < 500
