"""Ending access ends it everywhere (LC-5, LC-6, LC-8, REP-3, REP-4, REP-5; issue 12, item 4).

One test per cause: suspension, closing, purge, death, the end of a caregiver, of a guardianship,
majority, and a password change. Each gives the person every way in first (an API bearer token, a
portal session, an app connected to the space, a login half done), shows that it works, causes
the end, then knocks on every door again. `auth.service.end_access` is the one function they all
call; `access.rules.sign_in_lasts` keeps a holder's leftover credential shut at the door.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.access.rules import sign_in_lasts
from carnet.accounts import lifecycle
from carnet.accounts import purge as purge_service
from carnet.accounts.family.jobs import majority
from carnet.accounts.models import Caregiving, Holder, Representation
from carnet.apps.models import AppConsent
from carnet.audit.models import AuditEntry
from carnet.auth import login
from carnet.auth import sessions as portal_sessions
from carnet.auth.models import LoginChallenge, PortalSession
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import end_access, issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.jobs.service import JobContext
from carnet.vault.service import Vault
from tests.apps.support import add_app, app_token
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder
from tests.portal.support import PASSWORD, make_account

API = "/api/v1"
SCOPES = ["patient/DocumentReference.rs", "patient/Patient.rs"]


@dataclass(frozen=True)
class Ways:
    """Every way in a holder has, issued before access ends."""

    token: str  # API bearer token
    cookie: str  # portal session
    app: str  # an app the holder connected to `space`
    space: uuid.UUID  # the space the portal session and the app act on


def ways_in(database: Database, person: uuid.UUID, space: uuid.UUID | None = None) -> Ways:
    """A token, a portal session acting on `space` (default: their own) and an app they
    connected to it."""
    space = space or person
    principal = Principal(PrincipalKind.HOLDER, person)
    with database.transaction() as session:
        token, _row = issue_token(session, principal, ttl=dt.timedelta(hours=1))
        cookie, row = portal_sessions.create(session, principal)
        row.acting_space_id = space
    return Ways(token, cookie, app_token(database, space, SCOPES, granted_by=person), space)


def bearer(token: str, space: uuid.UUID | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if space is not None:
        headers["X-Carnet-Space"] = str(space)
    return headers


def portal(client: TestClient, cookie: str, path: str) -> Any:
    client.cookies.set(portal_sessions.SESSION_COOKIE, cookie)
    try:
        return client.get(path, follow_redirects=False)
    finally:
        client.cookies.clear()


def upload(client: TestClient, token: str, space: uuid.UUID | None = None) -> int:
    files = {"file": ("compte-rendu.pdf", pdf_bytes(), "application/pdf")}
    response = client.post(f"{API}/me/documents", headers=bearer(token, space), files=files)
    return response.status_code


def documents(client: TestClient, token: str, space: uuid.UUID | None = None) -> int:
    """The status of listing the documents of `space` (default: one's own) with `token`."""
    return client.get(f"{API}/me/documents", headers=bearer(token, space)).status_code


def app_reads(client: TestClient, token: str) -> int:
    return client.get("/fhir/DocumentReference", headers=bearer(token)).status_code


def acting_space(database: Database, cookie: str) -> uuid.UUID | None:
    with database.transaction() as session:
        row = portal_sessions.find(session, cookie, touch=False)
        assert row is not None, "the session itself should still be live"
        return portal_sessions.live(row).acting_space_id


def start_login(database: Database, vault: Vault, settings: Settings, username: str) -> str:
    """The first login step, done: a challenge waits for its e-mailed code."""
    with database.transaction() as session:
        outcome = login.start_login(
            session, vault, settings, PrincipalKind.HOLDER, username, PASSWORD, client="192.0.2.1"
        )
    assert outcome.value is not None, outcome.error
    return outcome.value.challenge


def pending_challenges(database: Database, holder_id: uuid.UUID) -> int:
    with database.transaction() as session:
        rows = session.scalars(
            select(LoginChallenge).where(
                LoginChallenge.principal_id == holder_id, LoginChallenge.used_at.is_(None)
            )
        ).all()
        return len(rows)


def assert_every_way_shut(client: TestClient, ways: Ways) -> None:
    """The API (JSON and FHIR), uploads, the portal and the app all refuse."""
    assert client.get(f"{API}/me", headers=bearer(ways.token)).status_code == 401
    assert documents(client, ways.token) == 401
    assert client.get("/fhir/DocumentReference", headers=bearer(ways.token)).status_code == 401
    assert upload(client, ways.token) == 401
    assert portal(client, ways.cookie, "/documents").status_code == 303  # to the login page
    assert app_reads(client, ways.app) == 401


def access_ended_entries(database: Database, holder_id: uuid.UUID) -> list[AuditEntry]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.chain == f"space:{holder_id}",
                    AuditEntry.action == "auth.access-ended",
                )
                .order_by(AuditEntry.seq)
            )
        )


@pytest.fixture(autouse=True)
def _listed_app(database: Database) -> None:
    add_app(database)


def caregiver_of(database: Database, helped: Holder, caregiver: Holder) -> uuid.UUID:
    with database.transaction() as session:
        care = Caregiving(
            holder_id=helped.id,
            caregiver_id=caregiver.id,
            status="accepted",
            created_at=clock.now(),
            expires_at=clock.now() + dt.timedelta(days=14),
        )
        session.add(care)
        session.flush()
        return care.id


# -- the space ends (LC-5, LC-6, LC-8) -------------------------------------------------------


def test_lc6_suspension_ends_every_way_in(
    client: TestClient, database: Database, vault: Vault, settings: Settings, run_cli: Any
) -> None:
    """LC-6: after `carnet account suspend`, a token, portal session, app or half-done login
    issued before opens nothing: not the holder's own space, nor the space of a person they help,
    nor their child's through an app they connected."""
    holder = make_account(database, "suspect")
    helped = make_account(database, "helped", first_names="Paulette")
    caregiver_of(database, helped, holder)
    ways = ways_in(database, holder.id)
    for_helped = app_token(database, helped.id, SCOPES, granted_by=holder.id)
    challenge = start_login(database, vault, settings, "suspect")
    assert documents(client, ways.token) == 200
    assert upload(client, ways.token, helped.id) == 201
    assert portal(client, ways.cookie, "/documents").status_code == 200
    assert app_reads(client, ways.app) == 200 and app_reads(client, for_helped) == 200

    status, _out, err = run_cli("account", "suspend", holder.nir, "--reason", "fraud-suspected")
    assert status == 0, err

    assert_every_way_shut(client, ways)
    assert documents(client, ways.token, helped.id) == 401
    assert upload(client, ways.token, helped.id) == 401
    assert app_reads(client, for_helped) == 401
    assert pending_challenges(database, holder.id) == 0
    with database.transaction() as session:
        done = login.verify_login(session, vault, settings, challenge, "000000", client="192.0.2.1")
    assert done.error is not None and done.error.code == "bad-challenge"
    [entry] = access_ended_entries(database, holder.id)  # ACC-8: counts, no data
    assert (entry.actor_kind, entry.mode) == ("system", "system")  # no --operator given
    assert entry.reason == "space-suspended;t=1;s=1;p=0;a=2;c=1"


def test_lc5_closing_by_the_operator_ends_every_way_in(
    client: TestClient, database: Database, run_cli: Any
) -> None:
    """LC-5: a space closed by the operator (`carnet account close`) ends its holder's earlier
    credentials, and the apps connected to it, as the holder's own closing does."""
    holder = make_account(database, "closing")
    ways = ways_in(database, holder.id)
    assert client.get(f"{API}/me", headers=bearer(ways.token)).status_code == 200

    status, _out, err = run_cli("account", "close", holder.nir, "--reason", "operator-close")
    assert status == 0, err

    assert_every_way_shut(client, ways)
    assert [e.reason for e in access_ended_entries(database, holder.id)] == [
        "space-closed;t=1;s=1;p=0;a=1;c=0"
    ]


def test_lc5_the_holder_closing_in_the_portal_ends_the_api_and_the_apps(
    client: TestClient, database: Database
) -> None:
    """LC-5: closing from the API ends the portal sessions and the apps too, not only tokens."""
    holder = make_account(database, "self-closing")
    ways = ways_in(database, holder.id)
    response = client.post(f"{API}/me/close", json={"purge": False}, headers=bearer(ways.token))
    assert response.status_code == 200, response.text
    assert_every_way_shut(client, ways)
    with database.transaction() as session:
        consents = session.scalars(select(AppConsent)).all()
        assert consents and all(consent.revoked_at is not None for consent in consents)


def test_lc6_death_ends_every_way_in(client: TestClient, database: Database, run_cli: Any) -> None:
    """LC-6: once the operator records the holder's death, nothing issued before still opens the
    space: no token, no session, no app (a child's app the holder connected neither)."""
    holder = make_account(database, "deceased")
    with database.transaction() as session:
        child = make_holder(session, birth_date=clock.today() - dt.timedelta(days=9 * 365))
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=holder.id,
                representative_nir=holder.nir,
                role="managing",
                status="accepted",
            )
        )
    ways = ways_in(database, holder.id)
    for_child = app_token(database, child.id, SCOPES, granted_by=holder.id)
    assert app_reads(client, for_child) == 200

    status, _out, err = run_cli("account", "mark-deceased", holder.nir, "--reason", "civil-status")
    assert status == 0, err

    assert_every_way_shut(client, ways)
    assert app_reads(client, for_child) == 401


def test_lc8_purge_leaves_no_way_in_and_moves_helpers_out(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-8: when a closed space is purged, a credential that escaped (a token, a session, an
    app) is gone, and a caregiver's session that was on the space is back on their own, told so."""
    holder = make_account(database, "purged")
    helper = make_account(database, "helper")
    caregiver_of(database, holder, helper)
    with database.transaction() as session:
        lifecycle.close(session, settings, session.get(Holder, holder.id), SYSTEM, purge=True)
    # Left over after the closing (written behind the services' back):
    ways = ways_in(database, holder.id)
    helper_ways = ways_in(database, helper.id, space=holder.id)

    with database.transaction() as session:
        assert purge_service.purge_due(session, vault, settings, clock.today()) == 1

    assert_every_way_shut(client, ways)
    assert app_reads(client, helper_ways.app) == 401
    assert acting_space(database, helper_ways.cookie) == helper.id
    with database.transaction() as session:
        row = session.scalars(select(PortalSession).where(PortalSession.principal_id == helper.id))
        assert row.one().flash == "profile-reset"
    assert client.get(f"{API}/me", headers=bearer(helper_ways.token)).status_code == 200


# -- a relation ends (REP-3, REP-4, REP-5) ----------------------------------------------------


def test_rep4_revoking_a_caregiver_ends_their_ways_into_that_space_only(
    client: TestClient, database: Database
) -> None:
    """REP-4: once the holder revokes a caregiver, the caregiver's token and session no longer
    act on that space and the app they connected to it is disconnected; their own space, and the
    holder's own app, keep working."""
    helped = make_account(database, "helped", first_names="Paulette")
    caregiver = make_account(database, "caregiver")
    care_id = caregiver_of(database, helped, caregiver)
    helped_ways = ways_in(database, helped.id)
    ways = ways_in(database, caregiver.id, space=helped.id)
    add_app(database, "journal")
    helped_app = app_token(database, helped.id, SCOPES, client_id="journal")
    own_app = app_token(database, caregiver.id, SCOPES, granted_by=caregiver.id)
    assert documents(client, ways.token, helped.id) == 200
    assert "Paulette" in portal(client, ways.cookie, "/documents").text
    assert app_reads(client, ways.app) == 200

    response = client.delete(f"{API}/me/caregivers/{care_id}", headers=bearer(helped_ways.token))
    assert response.status_code == 204, response.text

    assert documents(client, ways.token, helped.id) == 404
    assert upload(client, ways.token, helped.id) == 404
    assert app_reads(client, ways.app) == 401
    assert acting_space(database, ways.cookie) == caregiver.id
    page = portal(client, ways.cookie, "/documents")
    assert page.status_code == 200 and "Paulette" not in page.text
    # Their own space, and the holder's own app, go on.
    assert documents(client, ways.token) == 200
    assert app_reads(client, own_app) == 200
    assert app_reads(client, helped_app) == 200
    [entry] = access_ended_entries(database, helped.id)
    assert entry.target_id == f"holder/{caregiver.id}" and entry.mode == "normal"


def test_rep5_ending_a_guardianship_ends_the_guardians_ways_into_that_space(
    client: TestClient, database: Database, run_cli: Any
) -> None:
    """REP-5: when the court measure ends, the guardian's session leaves the protected adult's
    space and the apps the guardian connected to it are disconnected."""
    adult = make_account(database, "protected", first_names="Paulette")
    guardian = make_account(database, "guardian")
    status, _out, err = run_cli("guardian", "add", adult.nir, guardian.nir)
    assert status == 0, err
    ways = ways_in(database, guardian.id, space=adult.id)
    assert app_reads(client, ways.app) == 200
    assert "Paulette" in portal(client, ways.cookie, "/documents").text

    status, _out, err = run_cli("guardian", "end", adult.nir, guardian.nir)
    assert status == 0, err

    assert documents(client, ways.token, adult.id) == 404
    assert app_reads(client, ways.app) == 401
    assert acting_space(database, ways.cookie) == guardian.id
    assert "Paulette" not in portal(client, ways.cookie, "/documents").text
    assert client.get(f"{API}/me", headers=bearer(ways.token)).status_code == 200


def test_rep3_at_majority_the_representatives_sessions_and_apps_leave_the_space(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """REP-3: on the 18th birthday the majority job ends the parents' representation: a parent's
    session that was acting on the young adult's space is back on their own, and the app the
    parent connected to it is disconnected."""
    birthday = dt.date(2026, 3, 10)
    midnight = clock.start_of_day(birthday, settings.timezone)  # sessions idle out in 15 minutes
    parent = make_account(database, "parent")
    with database.transaction() as session:
        child = make_holder(session, birth_date=dt.date(2008, 3, 10), state="open")
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=parent.id,
                representative_nir=parent.nir,
                role="managing",
                status="accepted",
            )
        )
    with clock.frozen_at(midnight - dt.timedelta(minutes=5)):
        ways = ways_in(database, parent.id, space=child.id)
        assert app_reads(client, ways.app) == 200
        assert portal(client, ways.cookie, "/documents").status_code == 200
    with clock.frozen_at(midnight + dt.timedelta(minutes=5)):
        majority(JobContext(database, settings, birthday, clock.now()))
        assert app_reads(client, ways.app) == 401
        assert acting_space(database, ways.cookie) == parent.id
        assert documents(client, ways.token, child.id) == 404
        assert client.get(f"{API}/me", headers=bearer(ways.token)).status_code == 200
    [entry] = access_ended_entries(database, child.id)
    assert entry.reason == "majority;t=0;s=0;p=1;a=1;c=0"


# -- a password change ---------------------------------------------------------------------


def test_password_change_ends_every_other_way_in(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """A password change (Carnet decision) keeps the token that asked and ends every other one,
    every portal session, a login half done with the old password and the apps the holder
    connected; the old password no longer logs in, the new one does."""
    holder = make_account(database, "changing")
    ways = ways_in(database, holder.id)
    with database.transaction() as session:
        phone, _row = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder.id), ttl=dt.timedelta(hours=1)
        )
    challenge = start_login(database, vault, settings, "changing")
    new = "a brand new passphrase 77"

    response = client.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": new},
        headers=bearer(phone),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"tokens_ended": 1, "sessions_ended": 1, "apps_ended": 1}

    assert client.get(f"{API}/me", headers=bearer(phone)).status_code == 200
    assert_every_way_shut(client, ways)
    with database.transaction() as session:
        done = login.verify_login(session, vault, settings, challenge, "000000", client="192.0.2.1")
    assert done.error is not None and done.error.code == "bad-challenge"
    old = client.post(f"{API}/session", json={"username": "changing", "password": PASSWORD})
    assert old.status_code == 401
    fresh = client.post(f"{API}/session", json={"username": "changing", "password": new})
    assert fresh.status_code == 200


def test_password_change_needs_the_current_password_and_the_policy(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """A stolen token does not change the password: the current one is asked, and wrong ones
    count with the failed logins (locked, 429); a weak new password is refused with the reason.
    Nothing ends on a refusal."""
    holder = make_account(database, "careful")
    ways = ways_in(database, holder.id)
    with database.transaction() as session:
        other, _row = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder.id), ttl=dt.timedelta(hours=1)
        )
    weak = client.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=bearer(ways.token),
    )
    assert weak.status_code == 400 and weak.json()["error"]["field"] == "new_password"
    for _ in range(settings.login_max_failures):
        wrong = client.post(
            f"{API}/me/password",
            json={"current_password": "not the password", "new_password": "a brand new one 77"},
            headers=bearer(ways.token),
        )
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "bad-password"
    locked = client.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new one 77"},
        headers=bearer(ways.token),
    )
    assert locked.status_code == 429
    assert client.get(f"{API}/me", headers=bearer(other)).status_code == 200
    assert app_reads(client, ways.app) == 200
    with database.transaction() as session:
        failures = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.action == "auth.password-change-failure",
                AuditEntry.holder_id == holder.id,
            )
        ).all()
    assert len(failures) == settings.login_max_failures


# -- the door and the function itself --------------------------------------------------------


def test_lc6_a_suspended_holders_leftover_token_opens_no_door(
    client: TestClient, database: Database
) -> None:
    """LC-5, LC-6: even a token that escaped revocation (the state written directly) opens no
    door once the holder's space is not active: the JSON API, FHIR, and the spaces they help."""
    holder = make_account(database, "leftover")
    helped = make_account(database, "helped")
    caregiver_of(database, helped, holder)
    ways = ways_in(database, holder.id)
    with database.transaction() as session:
        session.get(Holder, holder.id).state = "suspended"  # type: ignore[union-attr]
    assert client.get(f"{API}/me", headers=bearer(ways.token)).status_code == 401
    assert client.get("/fhir/DocumentReference", headers=bearer(ways.token)).status_code == 401
    assert documents(client, ways.token, helped.id) == 401
    assert portal(client, ways.cookie, "/documents").status_code == 303


@pytest.mark.parametrize(
    ("kind", "state", "lasts"),
    [
        ("holder", "active", True),
        ("holder", "suspended", False),
        ("holder", "closed", False),
        ("holder", "purge-pending", False),
        ("holder", "open", False),  # no credentials before activation (LC-4)
        ("holder", None, False),  # purged
        ("professional", None, True),
        ("operator", None, True),
    ],
)
def test_lc6_sign_in_lasts_only_while_the_holders_space_is_active(
    kind: str, state: str | None, lasts: bool
) -> None:
    """LC-5, LC-6, LC-8: the decision point's rule for every holder sign-in."""
    assert sign_in_lasts(kind, state) is lasts


def test_end_access_takes_exactly_one_target(database: Database) -> None:
    """One cause, one target: a space, a principal, or a relation."""
    with database.transaction() as session:
        holder = make_holder(session)
        with pytest.raises(ValueError, match="exactly one"):
            end_access(session, reason="x")
        with pytest.raises(ValueError, match="exactly one"):
            end_access(
                session,
                reason="x",
                space=holder.id,
                principal=Principal(PrincipalKind.HOLDER, holder.id),
            )
        # Nothing open: nothing ended, nothing recorded.
        assert end_access(session, reason="x", space=holder.id).tokens == 0
    assert access_ended_entries(database, holder.id) == []


def test_logging_out_everywhere_through_the_api_ends_portal_sessions_and_login_codes(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """ACC-8: "log out everywhere" is one thing whichever door asks: `DELETE /api/v1/session`
    ends every API token, every portal session and a login half done, as the portal's button
    does; the apps the holder connected stay connected."""
    holder = make_account(database, "leaving")
    ways = ways_in(database, holder.id)
    challenge = start_login(database, vault, settings, "leaving")

    assert client.delete(f"{API}/session", headers=bearer(ways.token)).status_code == 204

    assert documents(client, ways.token) == 401
    assert portal(client, ways.cookie, "/home").status_code in (302, 303)
    with database.transaction() as session:
        done = login.verify_login(session, vault, settings, challenge, "000000", client="192.0.2.1")
    assert done.error is not None and done.error.code == "bad-challenge"
    assert app_reads(client, ways.app) == 200
