"""Representatives, guardians and caregivers: invitations, limits and who may act on a space.

Rules REP-1 (second representative invited by the managing one), REP-3 (parents' access ends at
majority), REP-4 (caregivers: limits 3 and 5, forbidden actions), REP-5 (guardians), LC-7.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from carnet import clock
from carnet.accounts.family import cli as family_cli
from carnet.accounts.family import guardians
from carnet.accounts.family import relations as family
from carnet.accounts.family.jobs import expire_invitations
from carnet.accounts.models import Caregiving, Holder, Representation
from carnet.accounts.rules import make_nir
from carnet.audit.models import AuditEntry
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import Conflict, Forbidden
from carnet.jobs.service import JobContext
from carnet.notifications.models import OutboxMessage
from tests.factories import make_holder

API = "/api/v1"


def headers_for(
    database: Database, holder_id: uuid.UUID, space: uuid.UUID | None = None
) -> dict[str, str]:
    """A bearer token for the holder (valid long enough for tests that move the clock)."""
    with database.transaction() as session:
        token, _row = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder_id), ttl=dt.timedelta(days=400)
        )
    headers = {"Authorization": f"Bearer {token}"}
    if space is not None:
        headers["X-Carnet-Space"] = str(space)
    return headers


def holder(database: Database, **values: object) -> Holder:
    with database.transaction() as session:
        return make_holder(session, **values)


@dataclass
class Family:
    parent: Holder  # managing representative
    other: Holder  # the second parent, not yet a representative
    child: Holder


@pytest.fixture
def fam(database: Database) -> Family:
    """A minor whose managing representative is `parent` (LC-7: attached to the declaring parent)."""
    with database.transaction() as session:
        parent = make_holder(session, email="parent@example.org", first_names="Alice")
        other = make_holder(session, email="other@example.org", first_names="Bruno")
        child = make_holder(
            session,
            birth_date=clock.today() - dt.timedelta(days=365 * 8),
            state="open",
            first_names="Chloé",
        )
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=parent.id,
                representative_nir=parent.nir,
                role="managing",
                status="accepted",
            )
        )
    return Family(parent, other, child)


def invite(client: TestClient, database: Database, fam: Family, nir: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        f"{API}/me/children/{fam.child.id}/representatives",
        json={"nir": nir or fam.other.nir},
        headers=headers_for(database, fam.parent.id),
    )


def relation(
    database: Database, who: uuid.UUID, space: uuid.UUID, settings: Settings
) -> str | None:
    with database.transaction() as session:
        return family.manages(session, who, space, settings=settings)


def job_context(database: Database, settings: Settings) -> JobContext:
    return JobContext(database=database, settings=settings, as_of=clock.today(), now=clock.now())


# -- REP-1: the second representative -------------------------------------------------------


def test_rep1_invitation_accepted_makes_a_second_representative(
    client: TestClient, database: Database, settings: Settings, fam: Family
) -> None:
    response = invite(client, database, fam)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending" and body["role"] == "second"
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert abs(expires - clock.now() - dt.timedelta(days=settings.invitation_days)) < dt.timedelta(
        minutes=5
    )
    # rule REP-1: pending gives nothing yet.
    assert relation(database, fam.other.id, fam.child.id, settings) is None
    with database.transaction() as session:
        mail = session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == "other@example.org")
        ).one()
        assert mail.kind == "family.representative-invitation"
        assert "Chloé" not in mail.body_text  # no name of the child in a mail
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "representation.invite")
        ).one()
        assert audit.holder_id == fam.child.id

    other = headers_for(database, fam.other.id)
    listed = client.get(f"{API}/me/invitations", headers=other).json()
    assert [(i["id"], i["type"], i["space_id"]) for i in listed] == [
        (body["id"], "representative", str(fam.child.id))
    ]
    assert listed[0]["invited_by"].startswith("Alice")
    # The inviter sees no invitation addressed to them.
    assert (
        client.get(f"{API}/me/invitations", headers=headers_for(database, fam.parent.id)).json()
        == []
    )

    accepted = client.post(f"{API}/me/invitations/{body['id']}/accept", headers=other)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert relation(database, fam.other.id, fam.child.id, settings) == "representative"
    assert client.get(f"{API}/me/invitations", headers=other).json() == []
    with database.transaction() as session:
        spaces = family.managed_spaces(session, fam.other.id, settings=settings)
        assert [(h.id, r) for h, r in spaces] == [(fam.child.id, "representative")]
    # The child's space appears in the second parent's profiles (GET /me/profiles, accounts.api).
    profiles = client.get(f"{API}/me/profiles", headers=other)
    assert profiles.status_code == 200, profiles.text
    listed_profiles = {p["holder_id"]: p["relation"] for p in profiles.json()["profiles"]}
    assert listed_profiles == {str(fam.other.id): "self", str(fam.child.id): "representative"}
    # Answering twice is refused.
    again = client.post(f"{API}/me/invitations/{body['id']}/refuse", headers=other)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "answered"


def test_rep1_refused_invitation_gives_no_access_and_can_be_sent_again(
    client: TestClient, database: Database, settings: Settings, fam: Family
) -> None:
    first = invite(client, database, fam).json()
    other = headers_for(database, fam.other.id)
    refused = client.post(f"{API}/me/invitations/{first['id']}/refuse", headers=other)
    assert refused.status_code == 200
    assert refused.json()["status"] == "refused"
    assert relation(database, fam.other.id, fam.child.id, settings) is None
    second = invite(client, database, fam)
    assert second.status_code == 201
    assert second.json()["status"] == "pending"


def test_rep1_invitation_expires_through_the_daily_job(
    client: TestClient, database: Database, settings: Settings, fam: Family
) -> None:
    body = invite(client, database, fam).json()
    other = headers_for(database, fam.other.id)
    later = clock.now() + dt.timedelta(days=settings.invitation_days, hours=1)
    with clock.frozen_at(later):
        # Past its expiry and before the job: answering is refused, the listing hides it.
        early = client.post(f"{API}/me/invitations/{body['id']}/accept", headers=other)
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "expired"
        assert client.get(f"{API}/me/invitations", headers=other).json() == []
        summary = expire_invitations(job_context(database, settings))
        assert summary == "1 invitation(s) expired"
        response = client.post(f"{API}/me/invitations/{body['id']}/accept", headers=other)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "expired"
    with database.transaction() as session:
        assert session.get(Representation, uuid.UUID(body["id"])).status == "expired"  # type: ignore[union-attr]
    assert relation(database, fam.other.id, fam.child.id, settings) is None


def test_rep1_only_the_managing_representative_can_invite(
    client: TestClient, database: Database, settings: Settings, fam: Family
) -> None:
    stranger = holder(database)
    path = f"{API}/me/children/{fam.child.id}/representatives"
    refused = client.post(
        path, json={"nir": stranger.nir}, headers=headers_for(database, fam.other.id)
    )
    assert refused.status_code == 404
    # Nothing leaks: a space that does not exist answers the same.
    unknown = client.post(
        f"{API}/me/children/{uuid.uuid4()}/representatives",
        json={"nir": stranger.nir},
        headers=headers_for(database, fam.other.id),
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == refused.json()["error"]["message"]
    # An accepted *second* representative does not manage invitations either.
    invited = invite(client, database, fam).json()
    client.post(
        f"{API}/me/invitations/{invited['id']}/accept", headers=headers_for(database, fam.other.id)
    )
    by_second = client.post(
        path, json={"nir": stranger.nir}, headers=headers_for(database, fam.other.id)
    )
    assert by_second.status_code == 404
    # Nor can anyone but a representative manage the space (REP-1).
    assert relation(database, stranger.id, fam.child.id, settings) is None
    no_header = client.get(
        f"{API}/me/wishes", headers=headers_for(database, stranger.id, space=fam.child.id)
    )
    assert no_header.status_code == 404


def test_rep1_invitee_must_have_an_active_space(
    client: TestClient, database: Database, fam: Family
) -> None:
    notified = holder(database, state="notified")
    response = invite(client, database, fam, notified.nir)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invitee-not-active"
    assert "active" in response.json()["error"]["message"]
    # An unknown (valid) NIR answers exactly the same: the form tells nobody who exists.
    unknown = invite(client, database, fam, make_nir(2, 1970, 5, "13", 55, 777))
    assert unknown.status_code == 409
    assert unknown.json()["error"]["message"] == response.json()["error"]["message"]
    # A malformed NIR is a 400.
    assert invite(client, database, fam, "123456789012345").status_code == 400


def test_rep1_inviting_oneself_is_refused(
    client: TestClient, database: Database, fam: Family
) -> None:
    response = invite(client, database, fam, fam.parent.nir)
    assert response.status_code == 400
    assert invite(client, database, fam, fam.child.nir).status_code == 400


def test_rep1_at_most_two_representatives(
    client: TestClient, database: Database, fam: Family
) -> None:
    third = holder(database)
    first = invite(client, database, fam).json()
    pending = invite(client, database, fam, third.nir)
    assert pending.status_code == 409
    assert pending.json()["error"]["code"] == "invitation-pending"
    client.post(
        f"{API}/me/invitations/{first['id']}/accept", headers=headers_for(database, fam.other.id)
    )
    full = invite(client, database, fam, third.nir)
    assert full.status_code == 409
    assert full.json()["error"]["code"] == "two-representatives"
    assert "two legal representatives" in full.json()["error"]["message"]


def test_rep1_accepting_someone_elses_invitation_is_404(
    client: TestClient, database: Database, settings: Settings, fam: Family
) -> None:
    body = invite(client, database, fam).json()
    stranger = holder(database)
    for verb in ("accept", "refuse"):
        response = client.post(
            f"{API}/me/invitations/{body['id']}/{verb}", headers=headers_for(database, stranger.id)
        )
        assert response.status_code == 404
    # The inviter cannot answer their own invitation either.
    own = client.post(
        f"{API}/me/invitations/{body['id']}/accept", headers=headers_for(database, fam.parent.id)
    )
    assert own.status_code == 404
    assert relation(database, stranger.id, fam.child.id, settings) is None
    with database.transaction() as session:
        assert session.get(Representation, uuid.UUID(body["id"])).status == "pending"  # type: ignore[union-attr]


def test_rep3_parents_no_longer_manage_an_adult(
    database: Database, settings: Settings, fam: Family
) -> None:
    assert relation(database, fam.parent.id, fam.child.id, settings) == "representative"
    with database.transaction() as session:
        # Even before the majority job ran, an accepted parent link to an adult gives nothing.
        adult_day = fam.child.birth_date.replace(year=fam.child.birth_date.year + 18)
        assert (
            family.manages(session, fam.parent.id, fam.child.id, settings=settings, day=adult_day)
            is None
        )
        assert family.manages(session, fam.child.id, fam.child.id, settings=settings) == "self"


def test_endpoints_need_a_holder_token(client: TestClient, fam: Family) -> None:
    assert client.get(f"{API}/me/invitations").status_code == 401
    assert client.get(f"{API}/me/caregivers").status_code == 401


# -- REP-5: guardians of protected adults ----------------------------------------------------


def test_rep5_guardian_acts_as_representative_for_an_adult(
    client: TestClient, database: Database, settings: Settings
) -> None:
    adult = holder(database, birth_date=dt.date(1950, 6, 1))
    guardian = holder(database)
    assert relation(database, guardian.id, adult.id, settings) is None
    with database.transaction() as session:
        guardians.add_guardian(session, adult, guardian, SYSTEM)
    assert relation(database, guardian.id, adult.id, settings) == "representative"
    response = client.get(f"{API}/me/wishes", headers=headers_for(database, guardian.id, adult.id))
    assert response.status_code == 200
    assert response.json()["space_id"] == str(adult.id)
    # A guardian may manage caregivers for the protected adult (not a caregiver restriction).
    helper = holder(database)
    invited = client.post(
        f"{API}/me/caregivers",
        json={"nir": helper.nir},
        headers=headers_for(database, guardian.id, adult.id),
    )
    assert invited.status_code == 201, invited.text
    with database.transaction() as session:
        assert session.get(Caregiving, uuid.UUID(invited.json()["id"])).holder_id == adult.id  # type: ignore[union-attr]
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "caregiving.invite")
        ).one()
        assert entry.mode == "representative" and entry.actor_id == str(guardian.id)
    with database.transaction() as session, pytest.raises(Conflict) as again:
        guardians.add_guardian(session, adult, guardian, SYSTEM)
    assert again.value.code == "already-guardian"
    with database.transaction() as session:
        guardians.end_guardian(session, adult, guardian, SYSTEM)
    assert relation(database, guardian.id, adult.id, settings) is None


def test_rep5_guardian_cli(database: Database, settings: Settings) -> None:
    adult = holder(database, birth_date=dt.date(1960, 2, 3))
    guardian = holder(database)
    app = typer.Typer()
    app.command("noop")(lambda: None)
    family_cli.register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["guardian", "add", adult.nir, guardian.nir])
    assert result.exit_code == 0, result.output
    assert relation(database, guardian.id, adult.id, settings) == "representative"
    ended = runner.invoke(app, ["guardian", "end", adult.nir, guardian.nir])
    assert ended.exit_code == 0, ended.output
    assert relation(database, guardian.id, adult.id, settings) is None
    with database.transaction() as session:
        entries = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.holder_id == adult.id)
            .order_by(AuditEntry.seq)
        ).all()
    assert entries == ["representation.guardian-add", "representation.guardian-end"]


# -- REP-4: caregivers -----------------------------------------------------------------------


def test_rep4_caregiver_may_rule() -> None:
    for action in ("close", "manage-caregivers", "change-access-settings"):
        assert family.caregiver_may(action) is False
    for action in ("wishes.read", "wishes.update", "read-caregivers"):
        assert family.caregiver_may(action) is True


def _invite_caregiver(client: TestClient, database: Database, who: Holder, nir: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"{API}/me/caregivers", json={"nir": nir}, headers=headers_for(database, who.id)
    )


def _accept(client: TestClient, database: Database, who: Holder, invitation_id: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"{API}/me/invitations/{invitation_id}/accept", headers=headers_for(database, who.id)
    )


def test_rep4_caregiver_lifecycle_and_revocation(
    client: TestClient, database: Database, settings: Settings
) -> None:
    owner = holder(database)
    helper = holder(database, email="helper@example.org")
    invited = _invite_caregiver(client, database, owner, helper.nir)
    assert invited.status_code == 201, invited.text
    care_id = invited.json()["id"]
    assert invited.json()["status"] == "pending"
    assert relation(database, helper.id, owner.id, settings) is None  # pending gives nothing
    listed = client.get(f"{API}/me/invitations", headers=headers_for(database, helper.id)).json()
    assert [(i["id"], i["type"], i["space_id"]) for i in listed] == [
        (care_id, "caregiver", str(owner.id))
    ]
    assert _accept(client, database, helper, care_id).json()["status"] == "accepted"
    assert relation(database, helper.id, owner.id, settings) == "caregiver"
    as_helper = headers_for(database, helper.id, owner.id)
    assert client.get(f"{API}/me/wishes", headers=as_helper).status_code == 200
    mine = client.get(f"{API}/me/caregivers", headers=headers_for(database, owner.id)).json()
    assert [(c["id"], c["status"]) for c in mine] == [(care_id, "accepted")]

    revoked = client.delete(
        f"{API}/me/caregivers/{care_id}", headers=headers_for(database, owner.id)
    )
    assert revoked.status_code == 204
    assert relation(database, helper.id, owner.id, settings) is None
    assert client.get(f"{API}/me/wishes", headers=as_helper).status_code == 404
    assert client.get(f"{API}/me/caregivers", headers=headers_for(database, owner.id)).json() == []
    # Revoking again (or someone else's) is 404.
    assert (
        client.delete(
            f"{API}/me/caregivers/{care_id}", headers=headers_for(database, owner.id)
        ).status_code
        == 404
    )
    with database.transaction() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.holder_id == owner.id)
            .order_by(AuditEntry.seq)
        ).all()
    assert actions[:3] == ["caregiving.invite", "caregiving.accept", "wishes.read"]
    assert "caregiving.revoke" in actions


def test_rep4_caregivers_cannot_manage_caregivers_for_the_holder(
    client: TestClient, database: Database, settings: Settings
) -> None:
    owner = holder(database)
    helper = holder(database)
    third = holder(database)
    care_id = _invite_caregiver(client, database, owner, helper.nir).json()["id"]
    _accept(client, database, helper, care_id)
    as_helper = headers_for(database, helper.id, owner.id)
    forbidden = client.post(f"{API}/me/caregivers", json={"nir": third.nir}, headers=as_helper)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "caregiver-forbidden"
    assert client.delete(f"{API}/me/caregivers/{care_id}", headers=as_helper).status_code == 403
    # Reading the list is not managing.
    assert client.get(f"{API}/me/caregivers", headers=as_helper).status_code == 200
    with database.transaction() as session:
        # The same rule through the service helper, for the "close" action the lifecycle API uses.
        with pytest.raises(Forbidden):
            family.resolve_space(
                session,
                Principal(PrincipalKind.HOLDER, helper.id),
                str(owner.id),
                "close",
                settings=settings,
            )
        assert (
            session.scalars(select(Caregiving).where(Caregiving.caregiver_id == third.id)).all()
            == []
        )
    assert relation(database, helper.id, owner.id, settings) == "caregiver"


def test_rep4_at_most_three_caregivers(
    client: TestClient, database: Database, settings: Settings
) -> None:
    owner = holder(database)
    helpers = [holder(database) for _ in range(4)]
    ids = []
    for helper in helpers[:3]:
        response = _invite_caregiver(client, database, owner, helper.nir)
        assert response.status_code == 201
        ids.append(response.json()["id"])
    _accept(client, database, helpers[0], ids[0])  # accepted and pending both count
    fourth = _invite_caregiver(client, database, owner, helpers[3].nir)
    assert fourth.status_code == 409
    error = fourth.json()["error"]
    assert error["code"] == "caregivers-limit"
    assert f"at most {settings.max_caregivers} caregivers" in error["message"]
    # Revoking one makes room.
    client.delete(f"{API}/me/caregivers/{ids[1]}", headers=headers_for(database, owner.id))
    assert _invite_caregiver(client, database, owner, helpers[3].nir).status_code == 201
    # Inviting the same person twice is refused.
    duplicate = _invite_caregiver(client, database, owner, helpers[0].nir)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "already-caregiver"


def test_rep4_a_caregiver_helps_at_most_five_people(
    client: TestClient, database: Database, settings: Settings
) -> None:
    helper = holder(database)
    people = [holder(database) for _ in range(settings.max_cared_for + 2)]
    invitations = [
        _invite_caregiver(client, database, person, helper.nir).json()["id"]
        for person in people[: settings.max_cared_for + 1]
    ]
    for invitation in invitations[: settings.max_cared_for]:
        assert _accept(client, database, helper, invitation).status_code == 200
    # At acceptance: the sixth pending invitation cannot be accepted.
    late = _accept(client, database, helper, invitations[-1])
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "cared-for-limit"
    assert f"already helps {settings.max_cared_for} people" in late.json()["error"]["message"]
    # At invitation: nobody else can invite them now.
    refused = _invite_caregiver(client, database, people[-1], helper.nir)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "cared-for-limit"
    assert relation(database, helper.id, people[-2].id, settings) is None
    # The helper may still refuse the pending one.
    assert (
        client.post(
            f"{API}/me/invitations/{invitations[-1]}/refuse",
            headers=headers_for(database, helper.id),
        ).json()["status"]
        == "refused"
    )


def test_rep4_caregiver_invitation_rules(client: TestClient, database: Database) -> None:
    owner = holder(database)
    inactive = holder(database, state="open")
    assert _invite_caregiver(client, database, owner, owner.nir).status_code == 400
    response = _invite_caregiver(client, database, owner, inactive.nir)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invitee-not-active"


def test_rep4_caregiver_invitations_expire(
    client: TestClient, database: Database, settings: Settings
) -> None:
    owner = holder(database)
    helper = holder(database)
    care_id = _invite_caregiver(client, database, owner, helper.nir).json()["id"]
    with clock.frozen_at(clock.now() + dt.timedelta(days=settings.invitation_days + 1)):
        assert expire_invitations(job_context(database, settings)) == "1 invitation(s) expired"
        response = _accept(client, database, helper, care_id)
        # Expired invitations no longer count towards the limit of 3.
        assert (
            client.get(f"{API}/me/caregivers", headers=headers_for(database, owner.id)).json() == []
        )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "expired"
    assert relation(database, helper.id, owner.id, settings) is None


# -- X-Carnet-Space ----------------------------------------------------------------------------


def test_space_header_for_a_space_not_managed_is_404(
    client: TestClient, database: Database
) -> None:
    me = holder(database)
    other = holder(database)
    for value in (str(other.id), str(uuid.uuid4()), "not-a-uuid"):
        headers = headers_for(database, me.id)
        headers["X-Carnet-Space"] = value
        for method, path in (
            ("GET", "/me/wishes"),
            ("GET", "/me/caregivers"),
            ("POST", "/me/wishes/emergency-contacts"),
        ):
            response = client.request(
                method,
                API + path,
                headers=headers,
                json={"name": "X"} if method == "POST" else None,
            )
            assert response.status_code == 404, (value, path)
    # Naming oneself is the same as no header.
    own = client.get(f"{API}/me/wishes", headers=headers_for(database, me.id, me.id))
    assert own.status_code == 200
    assert own.json()["space_id"] == str(me.id)


def test_rep1_rep5_a_guardian_of_the_child_cannot_be_invited_as_second_parent(
    client: TestClient, database: Database, fam: Family
) -> None:
    with database.transaction() as session:
        guardians.add_guardian(session, fam.child, fam.other, SYSTEM)
    response = invite(client, database, fam)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already-representative"
