"""The holder's GP (médecin traitant) is confirmed by the holder, never self-appointed (rules ACC-4,
ACC-6, ACC-3, ACC-8, REP-1, REP-4).

A physician's "I am the GP" is a proposal; until the holder side confirms it, nothing changes, and
the emergency notices (ACC-6) still go to the previous GP. An administrator's block (ACC-4), the
one change a professional makes to the holder's team, is told to the holder.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.accounts.models import Holder
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from tests.access.test_care_api import (
    API,
    Pro,
    Space,
    answer_gp,
    audit,
    declare,
    error_code,
    new_pro,
    new_space,
    professionals,
    put_pro,
)
from tests.documents.samples import family, headers_for

REASON = "Patient inconscient aux urgences"


def mails(database: Database, kind: str) -> list[tuple[str, str]]:
    """(recipient, subject + body) of the queued e-mails of `kind`."""
    with database.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.created_at)
        ).all()
        return [(m.recipient, m.subject + "\n" + m.body_text) for m in rows]


def proposals(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(f"{API}/me/gp-proposals", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def break_glass(client: TestClient, who: Pro, nir: str) -> httpx.Response:
    response: httpx.Response = client.post(
        f"{API}/pro/emergency-access", json={"nir": nir, "reason": REASON}, headers=who.headers
    )
    return response


def with_gp(database: Database, client: TestClient, email: str = "ancien@example.org") -> tuple[
    Space, Pro
]:  # fmt: skip
    """A space whose holder confirmed a GP."""
    space = new_space(database, email="titulaire@example.org")
    gp = new_pro(database, email=email, name="Dr Ancien")
    assert declare(client, gp, space.nir, as_gp=True).status_code == 202
    assert answer_gp(client, space.headers, gp.rpps).status_code == 200
    return space, gp


def gp_of(client: TestClient, space: Space) -> list[str]:
    return [rpps for rpps, item in professionals(client, space.headers).items() if item["is_gp"]]


def test_acc4_acc6_a_physicians_gp_declaration_is_only_a_proposal(
    client: TestClient, database: Database
) -> None:
    """ACC-4: any physician declaring `as_gp` used to replace the holder's GP at once, and ACC-6's
    emergency notices then went to them. Now it is a proposal: the GP does not change, the answer
    says it awaits the holder, the holder side is told (neutrally), the notices still go to the
    previous GP."""
    space, gp = with_gp(database, client)
    intruder = new_pro(database, email="intrus@example.org", name="Dr Intrus")

    response = declare(client, intruder, space.nir, as_gp=True)
    assert response.status_code == 202, response.text
    assert response.json() == {"recorded": True, "gp": "awaiting-holder-confirmation"}

    assert gp_of(client, space) == [gp.rpps]
    listed = professionals(client, space.headers)
    assert listed[intruder.rpps]["status"] == "declared"  # the care declaration still works
    assert listed[intruder.rpps]["gp_proposed_at"] is not None
    assert listed[gp.rpps]["gp_proposed_at"] is None
    assert [p["rpps"] for p in proposals(client, space.headers)] == [intruder.rpps]
    assert audit(database, space.id, "care.declare")[-1].reason == "declared,gp-proposed"
    told = mails(database, "access.gp-proposal")  # the first GP's proposal, then this one
    assert [recipient for recipient, _ in told] == ["titulaire@example.org"] * 2
    assert "Dr Intrus" not in told[1][1] and "/professionals" in told[1][1]

    # A second declaration is the same proposal: no second e-mail.
    assert declare(client, intruder, space.nir, as_gp=True).status_code == 202
    assert len(mails(database, "access.gp-proposal")) == 2  # the first GP's, and this one
    assert audit(database, space.id, "care.declare")[-1].reason == "already-declared,gp-already-proposed"

    # ACC-6: an emergency access is told to the confirmed GP, not to the one who proposed.
    assert break_glass(client, new_pro(database), space.nir).status_code == 201
    assert [r for r, _ in mails(database, "access.emergency-gp")] == ["ancien@example.org"]


def test_acc4_acc6_confirming_changes_the_gp_and_tells_the_holder_and_the_previous_gp(
    client: TestClient, database: Database
) -> None:
    """ACC-4: the holder confirms; the GP changes, the previous GP and the holder side are told
    without health data, every change is audited (ACC-8), and the notices follow (ACC-6)."""
    space, previous = with_gp(database, client)
    chosen = new_pro(database, email="nouveau@example.org", name="Dr Nouveau")
    assert declare(client, chosen, space.nir, as_gp=True).status_code == 202

    response = answer_gp(client, space.headers, chosen.rpps)
    assert response.status_code == 200, response.text
    assert (response.json()["is_gp"], response.json()["gp_proposed_at"]) == (True, None)
    assert gp_of(client, space) == [chosen.rpps]
    assert proposals(client, space.headers) == []

    entries = [(e.target_id, e.reason, e.mode) for e in audit(database, space.id, "care.gp")]
    assert entries[-2:] == [(chosen.rpps, "confirmed", "normal"), (previous.rpps, "replaced", "normal")]
    # One e-mail for the first confirmation (in `with_gp`), one for this change.
    assert [r for r, _ in mails(database, "access.gp-change")] == ["titulaire@example.org"] * 2
    (replaced,) = mails(database, "access.gp-replaced")
    assert replaced[0] == "ancien@example.org"
    for _recipient, text in [*mails(database, "access.gp-change"), replaced]:
        assert "Dr Nouveau" not in text and "Dr Ancien" not in text and REASON not in text

    assert break_glass(client, new_pro(database), space.nir).status_code == 201
    assert [r for r, _ in mails(database, "access.emergency-gp")] == ["nouveau@example.org"]
    # Nothing left to confirm.
    assert error_code(answer_gp(client, space.headers, chosen.rpps), 404) == "no-gp-proposal"


def test_acc4_declining_leaves_the_gp_unchanged(client: TestClient, database: Database) -> None:
    """ACC-4: a declined proposal is dropped, audited, and cannot be confirmed afterwards."""
    space, gp = with_gp(database, client)
    other = new_pro(database)
    assert declare(client, other, space.nir, as_gp=True).status_code == 202
    declined = answer_gp(client, space.headers, other.rpps, "decline")
    assert declined.status_code == 200, declined.text
    assert declined.json()["is_gp"] is False
    assert gp_of(client, space) == [gp.rpps]
    assert proposals(client, space.headers) == []
    assert audit(database, space.id, "care.gp")[-1].reason == "declined"
    assert error_code(answer_gp(client, space.headers, other.rpps), 404) == "no-gp-proposal"
    assert mails(database, "access.gp-replaced") == []
    # A professional who never proposed: nothing to confirm either.
    assert error_code(answer_gp(client, space.headers, new_pro(database).rpps), 404) == (
        "no-gp-proposal"
    )


def test_acc3_acc4_a_blocked_physician_proposes_nothing_and_a_block_ends_a_proposal(
    client: TestClient, database: Database
) -> None:
    """ACC-3: the holder's block wins: a blocked physician's `as_gp` gets the same answer and
    records no proposal; blocking a physician drops their pending proposal."""
    space, gp = with_gp(database, client)
    blocked = new_pro(database)
    assert put_pro(client, space.headers, blocked.rpps, status="blocked").status_code == 200
    response = declare(client, blocked, space.nir, as_gp=True)
    assert response.json() == {"recorded": True, "gp": "awaiting-holder-confirmation"}
    assert proposals(client, space.headers) == []
    assert audit(database, space.id, "care.declare")[-1].reason == "blocked,gp-refused"

    later = new_pro(database)
    assert declare(client, later, space.nir, as_gp=True).status_code == 202
    assert put_pro(client, space.headers, later.rpps, status="blocked").status_code == 200
    assert proposals(client, space.headers) == []
    assert error_code(answer_gp(client, space.headers, later.rpps), 404) == "no-gp-proposal"
    assert gp_of(client, space) == [gp.rpps]


def test_acc4_rep1_rep4_a_representative_confirms_for_a_minor_a_caregiver_may_not(
    client: TestClient, database: Database
) -> None:
    """REP-1: a minor's representative answers as for other access settings; REP-4: a caregiver
    sees the proposal but may not answer it (403), and nothing changes."""
    people = family(database)
    physician = new_pro(database)
    with database.transaction() as session:
        child_nir = session.get(Holder, people.child.id).nir  # type: ignore[union-attr]
        helped_nir = session.get(Holder, people.helped.id).nir  # type: ignore[union-attr]
    assert declare(client, physician, child_nir, as_gp=True).status_code == 202
    assert declare(client, physician, helped_nir, as_gp=True).status_code == 202
    # The minor's representative is the one told (LC-7, REP-1).
    assert sorted(r for r, _ in mails(database, "access.gp-proposal")) == [
        "aide@example.org",
        "parent@example.org",
    ]

    caregiver = headers_for(database, people.caregiver.id, space=people.helped.id)
    assert [p["rpps"] for p in proposals(client, caregiver)] == [physician.rpps]
    for answer in ("confirm", "decline"):
        refused = answer_gp(client, caregiver, physician.rpps, answer)
        assert error_code(refused, 403) == "caregiver-forbidden"
    assert audit(database, people.helped.id, "care.gp") == []
    assert len(proposals(client, caregiver)) == 1

    parent = headers_for(database, people.parent.id, space=people.child.id)
    confirmed = answer_gp(client, parent, physician.rpps)
    assert confirmed.status_code == 200, confirmed.text
    (entry,) = audit(database, people.child.id, "care.gp")
    assert (entry.actor_id, entry.mode, entry.reason) == (
        str(people.parent.id),
        "representative",
        "confirmed",
    )
    # Professionals cannot answer a proposal, theirs or another's.
    answered = client.post(
        f"{API}/me/gp-proposals/{physician.rpps}/confirm", headers=physician.headers
    )
    assert answered.status_code == 403


def test_acc4_an_administrators_block_is_told_to_the_holder(
    client: TestClient, database: Database
) -> None:
    """ACC-4: an administrator may block another professional, the one change a professional
    makes to the holder's team by themselves; it is not silent: the holder side is told, without
    naming anyone (ACC-3: the holder may unblock)."""
    space = new_space(database, email="titulaire@example.org")
    admin = new_pro(database)
    other = new_pro(database, name="Dr Bloque")
    for who in (admin, other):
        assert declare(client, who, space.nir).status_code == 202
    assert put_pro(client, space.headers, admin.rpps, administrator=True).status_code == 200
    blocked = client.post(
        f"{API}/pro/blocks", json={"nir": space.nir, "rpps": other.rpps}, headers=admin.headers
    )
    assert blocked.status_code == 200, blocked.text
    (told,) = mails(database, "access.administrator-block")
    assert told[0] == "titulaire@example.org"
    assert "Dr Bloque" not in told[1] and "/professionals" in told[1]


def test_acc4_only_the_holder_side_names_administrators_and_unblocks(
    client: TestClient, database: Database
) -> None:
    """ACC-3, ACC-4: a professional, even an administrator, has no route to name an
    administrator, authorise or unblock: the holder's routes refuse professionals' tokens."""
    space = new_space(database)
    admin = new_pro(database)
    assert declare(client, admin, space.nir).status_code == 202
    assert put_pro(client, space.headers, admin.rpps, administrator=True).status_code == 200
    colleague = new_pro(database)
    assert put_pro(client, space.headers, colleague.rpps, status="blocked").status_code == 200
    for body in ({"administrator": True}, {"status": "unblocked"}, {"status": "authorised"}):
        assert put_pro(client, admin.headers, colleague.rpps, **body).status_code == 403
    assert professionals(client, space.headers)[colleague.rpps]["status"] == "blocked"
