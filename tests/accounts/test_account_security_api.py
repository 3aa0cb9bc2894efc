"""The holder API's side of account security: a forgotten password (`/password/recovery`,
`/password/reset`), one's sessions and devices (`/me/sessions`), and the e-mails a space
switches off (`/me/notification-preferences`), with the same rules as the portal's pages."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.auth import sessions as portal_sessions
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from tests.documents.samples import family, headers_for
from tests.notifications.support import mail_text
from tests.portal.support import make_account

API = "/api/v1"
NEW = "une toute nouvelle phrase 42"
_CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})\b")


def test_recovery_answers_the_same_and_the_code_resets_once(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database, "api")
    headers = headers_for(database, holder.id)
    known = client.post(f"{API}/password/recovery", json={"username": "api"})
    unknown = client.post(f"{API}/password/recovery", json={"username": "personne"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    with database.transaction() as session:
        mail = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "auth.recovery-code")
        ).one()
        found = _CODE.search(mail_text(mail))
    assert found is not None
    wrong = client.post(
        f"{API}/password/reset",
        json={"username": "personne", "code": found.group(1), "new_password": NEW},
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad-recovery-code"
    done = client.post(
        f"{API}/password/reset",
        json={"username": "api", "code": found.group(1), "new_password": NEW},
    )
    assert done.status_code == 200, done.text
    assert done.json()["tokens_ended"] == 1
    assert client.get(f"{API}/me", headers=headers).status_code == 401
    again = client.post(
        f"{API}/password/reset",
        json={"username": "api", "code": found.group(1), "new_password": NEW + "!"},
    )
    assert again.status_code == 401
    fresh = client.post(f"{API}/session", json={"username": "api", "password": NEW})
    assert fresh.status_code == 200


def test_sessions_are_listed_with_their_device_and_only_ones_own_end(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database, "appareils")
    stranger = make_account(database, "autre")
    me = Principal(PrincipalKind.HOLDER, holder.id)
    with database.transaction() as session:
        _token, mine = portal_sessions.create(
            session, me, user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1"
        )
        _token, theirs = portal_sessions.create(
            session, Principal(PrincipalKind.HOLDER, stranger.id)
        )
        mine_id, theirs_id = mine.id, theirs.id
    headers = headers_for(database, holder.id)
    listed = client.get(f"{API}/me/sessions", headers=headers).json()
    assert [(s["id"], s["device"]) for s in listed["sessions"]] == [(str(mine_id), "Safari, macOS")]
    assert listed["api_tokens"] == 1
    assert client.delete(f"{API}/me/sessions/{theirs_id}", headers=headers).status_code == 404
    assert client.delete(f"{API}/me/sessions/{uuid.uuid4()}", headers=headers).status_code == 404
    assert client.delete(f"{API}/me/sessions/{mine_id}", headers=headers).status_code == 204
    assert client.get(f"{API}/me/sessions", headers=headers).json()["sessions"] == []
    other = client.get(f"{API}/me/sessions", headers=headers_for(database, stranger.id)).json()
    assert [s["id"] for s in other["sessions"]] == [str(theirs_id)]


def test_notification_preferences_of_the_space_acted_on(
    client: TestClient, database: Database
) -> None:
    people = family(database)
    parent = headers_for(database, people.parent.id)
    for_child = headers_for(database, people.parent.id, people.child.id)
    url = f"{API}/me/notification-preferences"
    assert client.get(url, headers=parent).json() == {
        "messages": True,
        "appointments": True,
        "accesses": True,
    }
    changed = client.put(url, json={"accesses": False}, headers=for_child)
    assert changed.status_code == 200
    assert changed.json() == {"messages": True, "appointments": True, "accesses": False}
    assert client.get(url, headers=for_child).json()["accesses"] is False
    assert client.get(url, headers=parent).json()["accesses"] is True  # the parent's own space
    assert client.put(url, json={"messages": "no"}, headers=parent).status_code == 400
    outsider = headers_for(database, people.caregiver.id, people.child.id)
    assert client.get(url, headers=outsider).status_code == 404
