"""People for the profile tests: a holder, professionals in and out of the care team, a family."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from carnet.access.models import CareRelationship
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.db import Database
from tests.factories import make_holder, make_professional

API = "/api/v1"
MARKER = "ZZMARKERQX"  # must never appear in a raw row


def bearer(
    database: Database, principal: Principal, space: uuid.UUID | None = None
) -> dict[str, str]:
    with database.transaction() as session:
        token, _row = issue_token(session, principal, ttl=dt.timedelta(days=2))
    headers = {"Authorization": f"Bearer {token}"}
    if space is not None:
        headers["X-Carnet-Space"] = str(space)
    return headers


@dataclass(frozen=True)
class Cast:
    holder_id: uuid.UUID
    nir: str
    holder: dict[str, str]
    care_team: dict[str, str]  # an authorised physician
    outsider: dict[str, str]  # no relationship
    blocked: dict[str, str]  # blocked by the holder


def cast(database: Database) -> Cast:
    with database.transaction() as session:
        person = make_holder(session)
        team, outsider, blocked = (make_professional(session) for _ in range(3))
        session.add(
            CareRelationship(holder_id=person.id, professional_id=team.id, status="authorised")
        )
        session.add(
            CareRelationship(holder_id=person.id, professional_id=blocked.id, status="blocked")
        )
        ids = (person.id, person.nir, team.id, outsider.id, blocked.id)
    holder_id, nir, team_id, outsider_id, blocked_id = ids
    pro = PrincipalKind.PROFESSIONAL
    return Cast(
        holder_id,
        nir,
        bearer(database, Principal(PrincipalKind.HOLDER, holder_id)),
        bearer(database, Principal(pro, team_id)),
        bearer(database, Principal(pro, outsider_id)),
        bearer(database, Principal(pro, blocked_id)),
    )
