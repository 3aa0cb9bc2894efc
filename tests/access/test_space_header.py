"""`X-Carnet-Space` is never ignored (REP-1, LC-5): every route either honours it through
`accounts.family.resolve_space` (REP-1…REP-5 decide) or refuses it with 400 before anything runs.

An ignored header acts on the caller's own space: `POST /api/v1/me/close` meant for a child's space
closed the parent's, and with `purge: true` scheduled the parent's erasure.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.access.routes import route_rules
from carnet.accounts.models import Caregiving, Holder, Representation
from carnet.accounts.rules import make_nir
from carnet.auth import sessions as portal_sessions
from carnet.auth.models import PortalSession
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.db import Database
from tests.factories import make_holder, make_professional

API = "/api/v1"
SPACE_HEADER = "X-Carnet-Space"
# Path parameters that are not ids.
_PATH_VALUES = {"kind": "trusted_person", "section": "allergies", "token": "x" * 43}
# Bodies that pass validation, so that a route honouring the header reaches `resolve_space`;
# other JSON routes get `{}`.
_BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/me/caregivers": {"nir": make_nir(2, 1985, 3, "13", 55, 12)},
    "/api/v1/me/wishes/emergency-contacts": {"name": "Jean"},
    "/api/v1/me/wishes/emergency-contacts/{wish_id}": {"name": "Jean"},
    "/api/v1/me/wishes/{kind}": {"name": "Sophie"},
    "/api/v1/me/close": {"purge": True},
    "/api/v1/me/folders": {"name": "Analyses"},
    "/api/v1/me/folders/{folder_id}": {"name": "Analyses"},
    "/api/v1/me/timeline-settings": {"visible_to_professionals": True},
    "/api/v1/me/conversations": {"subject": "Question", "body": "Bonjour"},
    "/api/v1/me/conversations/{conversation_id}/messages": {"body": "Bonjour"},
    "/api/v1/me/agenda/appointments": {"title": "Dentiste", "start": "2030-03-02T10:00"},
    "/api/v1/me/agenda/appointments/{appointment_id}": {
        "title": "Dentiste",
        "start": "2030-03-02T10:00",
    },
    "/api/v1/me/agenda/settings": {"prevention": True},
}


@dataclass(frozen=True)
class World:
    caller: uuid.UUID  # a parent, acting on routes with a valid credential
    child: uuid.UUID  # a minor the caller represents (REP-1)
    helped: uuid.UUID  # a person the caller helps as an accepted caregiver (REP-4)
    stranger: uuid.UUID  # a space the caller does not manage
    bearer: dict[str, str]  # by principal kind
    cookies: dict[str, tuple[str, str]]  # portal session cookie and CSRF token, by kind


def _token(database: Database, principal: Principal) -> str:
    with database.transaction() as session:
        token, _row = issue_token(session, principal, ttl=dt.timedelta(hours=1))
    return token


def _portal(database: Database, principal: Principal) -> tuple[str, str]:
    with database.transaction() as session:
        cookie, row = portal_sessions.create(session, principal)
        return cookie, row.csrf_token


@pytest.fixture
def world(database: Database) -> World:
    with database.transaction() as session:
        caller = make_holder(session, email="parent@example.org")
        child = make_holder(session, birth_date=dt.date.today() - dt.timedelta(days=365 * 8))
        helped = make_holder(session)
        stranger = make_holder(session)
        pro = make_professional(session)
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=caller.id,
                representative_nir=caller.nir,
                role="managing",
                status="accepted",
            )
        )
        session.add(
            Caregiving(
                holder_id=helped.id,
                caregiver_id=caller.id,
                status="accepted",
                created_at=dt.datetime.now(dt.UTC),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
            )
        )
        ids = (caller.id, child.id, helped.id, stranger.id, pro.id)
    holder = Principal(PrincipalKind.HOLDER, ids[0])
    professional = Principal(PrincipalKind.PROFESSIONAL, ids[4])
    return World(
        caller=ids[0],
        child=ids[1],
        helped=ids[2],
        stranger=ids[3],
        bearer={
            "holder": _token(database, holder),
            "professional": _token(database, professional),
        },
        cookies={
            "holder": _portal(database, holder),
            "professional": _portal(database, professional),
        },
    )


def _routes(app: FastAPI) -> list[tuple[str, str, str, APIRoute]]:
    """(method, path template, access rule, route) of every API and portal route."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        rules = route_rules(getattr(context, "dependant", None) or route.dependant)
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                found.append((method, str(context.path), rules[0], route))
    return found


def honours_space(route: APIRoute) -> bool:
    """The route takes `X-Carnet-Space` as a parameter (itself or through a dependency)."""

    def walk(dependant: Any) -> bool:
        if any(str(p.alias).lower() == SPACE_HEADER.lower() for p in dependant.header_params):
            return True
        return any(walk(sub) for sub in dependant.dependencies)

    return walk(route.dependant)


def _path(template: str) -> str:
    def value(match: re.Match[str]) -> str:
        return _PATH_VALUES.get(match.group(1), str(uuid.uuid4()))

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", value, template)


def _send(
    client: TestClient, world: World, method: str, template: str, rule: str, space: uuid.UUID
) -> Any:
    """The request a client of the right kind would send, naming `space` in `X-Carnet-Space`."""
    headers = {SPACE_HEADER: str(space)}
    kind = "holder" if "holder" in rule or rule == "public" else "professional"
    options: dict[str, Any] = {}
    client.cookies.clear()
    if rule.startswith("portal-session") or not template.startswith(("/api/", "/fhir", "/ical")):
        cookie, csrf = world.cookies[kind]
        client.cookies.set(portal_sessions.SESSION_COOKIE, cookie)
        if method != "GET":
            options["data"] = {"csrf_token": csrf}
    else:
        if rule != "public":
            headers["Authorization"] = f"Bearer {world.bearer[kind]}"
        if method != "GET" and method != "DELETE":
            options["json"] = _BODIES.get(template, {})
    return client.request(
        method, _path(template), headers=headers, follow_redirects=False, **options
    )


def test_every_route_honours_the_space_header_or_refuses_it(
    app: FastAPI, client: TestClient, world: World
) -> None:
    """REP-1, LC-5: with a space the caller does not manage, a route that honours the header
    refuses through `resolve_space` (404: nothing tells whether that space exists); every other
    route answers 400 before anything runs. Never a success acting on the caller's own space."""
    wrong = []
    walked = {"honours": 0, "refuses": 0}
    for method, template, rule, route in _routes(app):
        response = _send(client, world, method, template, rule, world.stranger)
        if honours_space(route):
            walked["honours"] += 1
            ok = response.status_code == 404
        else:
            walked["refuses"] += 1
            ok = response.status_code == 400
            if ok and template.startswith(API):
                ok = response.json()["error"]["code"] == "space-header-not-honoured"
        if not ok:
            wrong.append(f"{method} {template} [{rule}] -> {response.status_code}")
    assert wrong == [], "\n".join(wrong)
    # The walk did reach both kinds, the portal and the public routes among them.
    assert walked["honours"] >= 60 and walked["refuses"] >= 150


def test_a_route_that_does_not_honour_the_header_refuses_even_a_managed_space(
    client: TestClient, world: World
) -> None:
    """REP-1: `GET /api/v1/me` names the caller's identity; asked with a child's space it must not
    answer with the parent's, nor with the child's: 400."""
    response = client.get(
        f"{API}/me",
        headers={
            "Authorization": f"Bearer {world.bearer['holder']}",
            SPACE_HEADER: str(world.child),
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "space-header-not-honoured"


def test_portal_forms_cannot_be_steered_to_another_space(
    client: TestClient, world: World, database: Database
) -> None:
    """REP-1, REP-4: the portal acts on the space kept in the session; the header is refused, and
    a form naming a space the holder does not manage (the profile switch) is 404, session kept."""
    cookie, csrf = world.cookies["holder"]
    client.cookies.set(portal_sessions.SESSION_COOKIE, cookie)
    steered = client.post(
        "/account/preferences",
        data={"csrf_token": csrf, "notify_new_documents": "1"},
        headers={SPACE_HEADER: str(world.child)},
        follow_redirects=False,
    )
    assert steered.status_code == 400
    switched = client.post(
        "/profile",
        data={"csrf_token": csrf, "space_id": str(world.stranger)},
        follow_redirects=False,
    )
    assert switched.status_code == 404
    with database.transaction() as session:
        row = session.scalars(
            select(PortalSession).where(PortalSession.principal_id == world.caller)
        ).one()
        assert row.acting_space_id == world.caller
        assert session.get(Holder, world.caller).state == "active"  # type: ignore[union-attr]
