"""The private iCalendar feed (SRV-2): created and revoked by the holder (not by a caregiver,
REP-4), only a hash of its secret is stored, each fetch is audited, revocation makes it 404."""

from __future__ import annotations

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import func, select, text

from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import Database
from tests.agenda.support import API, MARKER, body
from tests.documents.samples import family
from tests.profile.support import bearer, cast

FEED = f"{API}/me/agenda/feed"


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _fetches(database: Database) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(select(func.count()).where(AuditEntry.action == "agenda.feed-read")) or 0
        )


def test_srv2_the_feed_parses_back_with_appointments_and_prevention(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    created = client.post(f"{API}/me/agenda/appointments", json=body(), headers=who.holder).json()
    feed = client.post(FEED, headers=who.holder)
    assert feed.status_code == 201, feed.text
    url = feed.json()["url"]
    assert url.startswith("http://testserver/ical/") and url.endswith(".ics")
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    with database.transaction() as session:
        stored = session.execute(text("SELECT feed_token_hash FROM agenda_settings")).scalar()
    assert stored and token not in stored and len(stored) == 64  # only a hash

    response = client.get(_path(url))  # no credentials: the URL is the secret
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["cache-control"] == "private, no-store"
    calendar = Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    appointment = next(e for e in events if str(e["uid"]).startswith("appointment-"))
    assert str(appointment["summary"]) == f"Cardiologue {MARKER}"
    assert str(appointment["location"]) == "Hôpital Nord"
    assert appointment.decoded("dtstart").isoformat() == created["start"].replace("Z", "+00:00")
    prevention = [e for e in events if str(e["uid"]).startswith("prevention-")]
    assert prevention and all(str(e["summary"]).startswith("Prévention") for e in prevention)
    assert _fetches(database) == 1
    client.get(_path(url))
    assert _fetches(database) == 2  # each fetch is audited (ACC-8)

    client.put(f"{API}/me/agenda/settings", json={"prevention": False}, headers=who.holder)
    quiet = Calendar.from_ical(client.get(_path(url)).content)
    assert [str(e["uid"]).split("-")[0] for e in quiet.walk("VEVENT")] == ["appointment"]


def test_srv2_revoking_or_replacing_the_feed_makes_the_old_url_404(
    client: TestClient, database: Database
) -> None:
    who = cast(database)
    first = _path(client.post(FEED, headers=who.holder).json()["url"])
    second = _path(client.post(FEED, headers=who.holder).json()["url"])
    assert client.get(first).status_code == 404  # replaced
    assert client.get(second).status_code == 200
    assert client.get(f"{API}/me/agenda/settings", headers=who.holder).json()["feed_active"]
    assert client.delete(FEED, headers=who.holder).status_code == 204
    gone = client.get(second)
    assert gone.status_code == 404 and MARKER not in gone.text
    assert client.get("/ical/not-a-token.ics").status_code == 404
    assert not client.get(f"{API}/me/agenda/settings", headers=who.holder).json()["feed_active"]


def test_srv2_rep4_a_caregiver_manages_appointments_but_not_the_feed(
    client: TestClient, database: Database
) -> None:
    people = family(database)
    helper = bearer(
        database, Principal(PrincipalKind.HOLDER, people.caregiver.id), people.helped.id
    )
    added = client.post(f"{API}/me/agenda/appointments", json=body(), headers=helper)
    assert added.status_code == 201 and added.json()["author_kind"] == "caregiver"
    refused = client.post(FEED, headers=helper)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "caregiver-forbidden"
    parent = bearer(database, Principal(PrincipalKind.HOLDER, people.parent.id), people.child.id)
    assert client.post(FEED, headers=parent).status_code == 201  # a representative may
