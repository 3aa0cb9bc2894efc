"""The care team through the API: declarations, the holder's controls, administrators, explain
(rules ACC-1, ACC-2, ACC-3, ACC-4, DOC-3, REP-4).

What a professional may read is checked on the real read paths: `documents.service.search`, `get`
and `read_content`, and the FHIR DocumentReference search, read and Binary retrieve.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder
from carnet.accounts.rules import INS_NIR_SYSTEM, make_nir
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import service
from carnet.errors import NotFound
from carnet.vault.service import Vault
from tests.documents.samples import deposit, family, headers_for
from tests.factories import make_holder, make_professional

API = "/api/v1"
GENERAL = "11502-2"  # CR d'examens biologiques: BIOLOGIE, general
PSY = "68599-0"  # Synthèse psychiatrique: CPT_REND, psy
GENERAL_REPORT = "11488-4"  # CR de consultation: CPT_REND, general
UNKNOWN_NIR = make_nir(2, 1999, 12, "13", 55, 999)
UNKNOWN_RPPS = "12345678903"  # Luhn-valid, registered by no one
BAD_RPPS = "12345678901"  # wrong check digit


# -- shared helpers (also used by test_emergency and test_history) -----------------------------


@dataclass(frozen=True)
class Pro:
    id: uuid.UUID
    rpps: str
    headers: dict[str, str]
    kind: PrincipalKind = PrincipalKind.PROFESSIONAL

    @property
    def principal(self) -> Principal:
        return Principal(self.kind, self.id)


@dataclass(frozen=True)
class Space:
    id: uuid.UUID
    nir: str
    headers: dict[str, str]


def new_pro(
    database: Database, kind: PrincipalKind = PrincipalKind.PROFESSIONAL, **overrides: Any
) -> Pro:
    """A registered professional (a physician unless told) with a long-lived token of `kind`."""
    with database.transaction() as session:
        if kind is PrincipalKind.REGULATOR:
            overrides.setdefault("is_regulator", True)
        pro = make_professional(session, **overrides)
        token, _row = issue_token(session, Principal(kind, pro.id), ttl=dt.timedelta(days=400))
        return Pro(pro.id, pro.rpps, {"Authorization": f"Bearer {token}"}, kind)


def new_space(database: Database, **overrides: Any) -> Space:
    with database.transaction() as session:
        holder = make_holder(session, **overrides)
        holder_id, nir = holder.id, holder.nir
    return Space(holder_id, nir, headers_for(database, holder_id))


def readable(database: Database, settings: Settings, who: Pro, holder_id: uuid.UUID) -> set[str]:
    """What `who` finds by searching the space (documents.service.search, narrowed in SQL)."""
    with database.transaction() as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        total, rows = service.search(
            session, settings, who.principal, holder, service.SearchQuery(count=500)
        )
        assert total == len(rows)
        return {str(row.id) for row in rows}


def can_get(database: Database, settings: Settings, who: Pro, doc_id: uuid.UUID | str) -> bool:
    """Whether `who` reads one document's metadata (documents.service.get); refusals are 404."""
    try:
        with database.transaction() as session:
            service.get(session, settings, who.principal, uuid.UUID(str(doc_id)))
    except NotFound:
        return False
    return True


def declare(client: TestClient, who: Pro, nir: str, **extra: Any) -> httpx.Response:
    response: httpx.Response = client.post(
        f"{API}/pro/care-relationships", json={"nir": nir, **extra}, headers=who.headers
    )
    return response


def answer_gp(
    client: TestClient, headers: dict[str, str], rpps: str, answer: str = "confirm"
) -> httpx.Response:
    """The holder side confirms (or declines) a physician's GP proposal (ACC-4)."""
    response: httpx.Response = client.post(
        f"{API}/me/gp-proposals/{rpps}/{answer}", headers=headers
    )
    return response


def put_pro(client: TestClient, headers: dict[str, str], rpps: str, **body: Any) -> httpx.Response:
    response: httpx.Response = client.put(
        f"{API}/me/professionals/{rpps}", json=body, headers=headers
    )
    return response


def professionals(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get(f"{API}/me/professionals", headers=headers)
    assert response.status_code == 200, response.text
    return {item["rpps"]: item for item in response.json()}


def audit(database: Database, holder_id: uuid.UUID, action: str) -> list[AuditEntry]:
    with database.transaction() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.holder_id == holder_id, AuditEntry.action == action)
            .order_by(AuditEntry.seq)
        ).all()
        session.expunge_all()
        return list(rows)


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


@dataclass(frozen=True)
class Docs:
    general: str
    psy: str
    masked: str


def documents(database: Database, vault: Vault, settings: Settings, holder_id: uuid.UUID) -> Docs:
    """A general result, a psychiatric summary and a masked general report (DOC-3), deposited
    by another professional."""
    general = deposit(database, vault, settings, holder_id, type_code=GENERAL)
    psy = deposit(database, vault, settings, holder_id, type_code=PSY, title="Synthèse")
    masked = deposit(
        database, vault, settings, holder_id, type_code=GENERAL_REPORT, title="CR", masked=True
    )
    return Docs(str(general.id), str(psy.id), str(masked.id))


# -- ACC-1: declaration, matrix, masked documents ----------------------------------------------


def test_acc1_care_team_matrix_and_masked_documents(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    dentist = new_pro(database, profession_code="40")
    physician = new_pro(database)

    # ACC-1: outside the care team, nothing, by search or by id.
    assert readable(database, settings, dentist, space.id) == set()
    assert not can_get(database, settings, physician, docs.general)

    for who in (dentist, physician):
        response = declare(client, who, space.nir)
        assert response.status_code == 202, response.text
        assert response.json() == {"recorded": True}

    # ACC-1 matrix: a dentist reads general documents, not psychiatric ones; DOC-3: masked
    # documents only for administrators.
    assert readable(database, settings, dentist, space.id) == {docs.general}
    assert not can_get(database, settings, dentist, docs.psy)
    assert readable(database, settings, physician, space.id) == {docs.general, docs.psy}
    assert not can_get(database, settings, physician, docs.masked)

    # ACC-4: an administrator also sees masked documents.
    response = put_pro(client, space.headers, physician.rpps, administrator=True)
    assert response.status_code == 200, response.text
    assert response.json()["administrator"] is True
    assert readable(database, settings, physician, space.id) == {
        docs.general,
        docs.psy,
        docs.masked,
    }
    assert can_get(database, settings, physician, docs.masked)

    listed = professionals(client, space.headers)
    assert listed[dentist.rpps]["status"] == "declared"
    assert listed[dentist.rpps]["profession_label"] == "Chirurgien-dentiste"
    assert listed[dentist.rpps]["in_care_team"] is True
    assert listed[physician.rpps]["administrator"] is True
    declared = audit(database, space.id, "care.declare")
    assert {e.actor_id for e in declared} == {str(dentist.id), str(physician.id)}
    assert {e.reason for e in declared} == {"declared"}
    granted = audit(database, space.id, "care.administrator")
    assert [(e.target_id, e.reason) for e in granted] == [(physician.rpps, "granted")]


def fhir_sees(client: TestClient, who: Pro, nir: str, doc_id: str) -> tuple[int, int, int]:
    """(search total, read status, Binary status) on the FHIR front door."""
    search = client.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": f"{INS_NIR_SYSTEM}|{nir}"},
        headers=who.headers,
    )
    assert search.status_code == 200, search.text
    read = client.get(f"/fhir/DocumentReference/{doc_id}", headers=who.headers)
    binary = client.get(f"/fhir/Binary/{doc_id}", headers=who.headers)
    return search.json()["total"], read.status_code, binary.status_code


def test_acc2_acc3_a_blocked_professional_reads_nothing_anywhere_but_deposits(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    physician = new_pro(database)
    assert declare(client, physician, space.nir).status_code == 202
    assert put_pro(client, space.headers, physician.rpps, administrator=True).status_code == 200
    assert fhir_sees(client, physician, space.nir, docs.general) == (3, 200, 200)

    blocked = put_pro(client, space.headers, physician.rpps, status="blocked")
    assert blocked.status_code == 200, blocked.text
    assert (blocked.json()["status"], blocked.json()["administrator"]) == ("blocked", False)

    # Every read path: service search / get / content, FHIR search / read / Binary.
    assert readable(database, settings, physician, space.id) == set()
    assert not can_get(database, settings, physician, docs.general)
    with pytest.raises(NotFound), database.transaction() as session:
        service.read_content(session, vault, settings, physician.principal, uuid.UUID(docs.psy))
    assert fhir_sees(client, physician, space.nir, docs.general) == (0, 404, 404)

    # ACC-2: a blocked professional still deposits; their deposit gives them no read.
    own = deposit(database, vault, settings, space.id, author=physician.principal)
    assert own.author_id == physician.id
    assert not can_get(database, settings, physician, own.id)

    # Declaring again answers the same and does not lift the block (ACC-3).
    again = declare(client, physician, space.nir)
    assert (again.status_code, again.json()) == (202, {"recorded": True})
    assert professionals(client, space.headers)[physician.rpps]["status"] == "blocked"
    assert audit(database, space.id, "care.declare")[-1].reason == "blocked"
    assert readable(database, settings, physician, space.id) == set()

    # ACC-3: unblocking does not restore the past authorisation.
    unblocked = put_pro(client, space.headers, physician.rpps, status="unblocked")
    assert unblocked.status_code == 200, unblocked.text
    assert unblocked.json()["status"] == "none"
    assert unblocked.json()["in_care_team"] is False
    assert readable(database, settings, physician, space.id) == {str(own.id)}  # own deposit only
    assert not can_get(database, settings, physician, docs.general)

    # … until declared (or authorised) again; the administrator role is not restored either.
    assert declare(client, physician, space.nir).status_code == 202
    assert readable(database, settings, physician, space.id) == {
        docs.general,
        docs.psy,
        str(own.id),
    }
    actions = [
        e.action
        for e in audit(database, space.id, "care.block") + audit(database, space.id, "care.unblock")
    ]
    assert actions == ["care.block", "care.unblock"]


def test_acc3_occupational_physician_needs_express_authorisation(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    occupational = new_pro(database, practice="occupational")
    assert declare(client, occupational, space.nir).status_code == 202
    listed = professionals(client, space.headers)[occupational.rpps]
    assert listed["status"] == "declared"
    assert listed["needs_express_authorisation"] is True
    assert listed["in_care_team"] is False
    assert readable(database, settings, occupational, space.id) == set()
    # Not an administrator while outside the care team (ACC-4).
    refused = put_pro(client, space.headers, occupational.rpps, administrator=True)
    assert error_code(refused, 409) == "administrator-needs-care-team"

    authorised = put_pro(client, space.headers, occupational.rpps, status="authorised")
    assert authorised.status_code == 200, authorised.text
    assert authorised.json()["in_care_team"] is True
    assert readable(database, settings, occupational, space.id) == {docs.general, docs.psy}
    assert [e.reason for e in audit(database, space.id, "care.authorise")] == ["from:declared"]


def test_acc3_holder_authorises_any_professional_and_bad_requests_are_refused(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    pharmacist = new_pro(database, profession_code="21")
    created = put_pro(client, space.headers, pharmacist.rpps, status="authorised")
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "authorised"
    assert created.json()["declared_at"] is None
    assert readable(database, settings, pharmacist, space.id) == {docs.general}

    stranger = new_pro(database)
    assert error_code(put_pro(client, space.headers, UNKNOWN_RPPS, status="blocked"), 404)
    assert error_code(put_pro(client, space.headers, BAD_RPPS, status="blocked"), 400)
    assert error_code(put_pro(client, space.headers, stranger.rpps), 400)
    assert error_code(put_pro(client, space.headers, stranger.rpps, status="maybe"), 400)
    not_blocked = put_pro(client, space.headers, pharmacist.rpps, status="unblocked")
    assert error_code(not_blocked, 409) == "not-blocked"
    both = put_pro(client, space.headers, stranger.rpps, status="blocked", administrator=True)
    assert error_code(both, 400) == "administrator-needs-care-team"
    outsider = put_pro(client, space.headers, stranger.rpps, administrator=True)
    assert error_code(outsider, 409) == "administrator-needs-care-team"
    # Nothing of the refused requests was kept.
    assert stranger.rpps not in professionals(client, space.headers)
    # Pre-emptive block of a professional who never came (ACC-3 "at any time").
    assert put_pro(client, space.headers, stranger.rpps, status="blocked").status_code == 200
    assert professionals(client, space.headers)[stranger.rpps]["status"] == "blocked"
    assert declare(client, stranger, space.nir).status_code == 202
    assert readable(database, settings, stranger, space.id) == set()
    # Professionals cannot use the holder's endpoints, nor holders the professionals'.
    assert put_pro(client, pharmacist.headers, pharmacist.rpps, status="blocked").status_code == 403
    assert declare(client, Pro(space.id, "", space.headers), space.nir).status_code == 403


def test_acc1_declaration_of_unknown_or_closed_patients(
    client: TestClient, database: Database
) -> None:
    physician = new_pro(database)
    assert error_code(declare(client, physician, UNKNOWN_NIR), 404) == "unknown-patient"
    assert error_code(declare(client, physician, "180017500100199"), 400) == "invalid-input"
    closed = new_space(database, state="closed")
    assert error_code(declare(client, physician, closed.nir), 409) == "space-not-open"
    with database.transaction() as session:
        assert session.scalars(select(CareRelationship)).first() is None


def test_acc4_the_gp_is_shown_as_such_with_the_last_access(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    first_gp = new_pro(database, name="Dr Aubert")
    second_gp = new_pro(database, name="Dr Zola")
    nurse = new_pro(database, profession_code="60", name="Mme Bernard")
    dentist = new_pro(database, profession_code="40")
    assert declare(client, first_gp, space.nir, as_gp=True).status_code == 202
    assert answer_gp(client, space.headers, first_gp.rpps).status_code == 200
    assert declare(client, nurse, space.nir).status_code == 202
    refused = declare(client, dentist, space.nir, as_gp=True)
    assert error_code(refused, 400) == "gp-must-be-physician"

    listed = professionals(client, space.headers)
    assert listed[first_gp.rpps]["is_gp"] is True
    assert listed[nurse.rpps]["is_gp"] is False
    assert dentist.rpps not in listed
    assert listed[nurse.rpps]["last_access_at"] is not None  # its declaration

    moment = dt.datetime(2030, 5, 4, 3, 2, 1, tzinfo=dt.UTC)
    with clock.frozen_at(moment):
        assert can_get(database, settings, nurse, docs.general)
    assert professionals(client, space.headers)[nurse.rpps]["last_access_at"] == (
        "2030-05-04T03:02:01Z"
    )

    # A new GP, once confirmed, replaces the previous one (one médecin traitant), shown first.
    assert declare(client, second_gp, space.nir, as_gp=True).status_code == 202
    assert answer_gp(client, space.headers, second_gp.rpps).status_code == 200
    response = client.get(f"{API}/me/professionals", headers=space.headers)
    order = [item["rpps"] for item in response.json()]
    assert order[0] == second_gp.rpps
    listed = {item["rpps"]: item for item in response.json()}
    assert (listed[first_gp.rpps]["is_gp"], listed[second_gp.rpps]["is_gp"]) == (False, True)
    assert audit(database, space.id, "care.declare")[-1].reason == "declared,gp-proposed"


def test_acc4_administrators_block_other_professionals(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    admin = new_pro(database)
    colleague = new_pro(database)
    nurse = new_pro(database, profession_code="60")
    for who in (admin, colleague, nurse):
        assert declare(client, who, space.nir).status_code == 202
    assert docs.general in readable(database, settings, nurse, space.id)

    def block(who: Pro, nir: str, rpps: str) -> httpx.Response:
        response: httpx.Response = client.post(
            f"{API}/pro/blocks", json={"nir": nir, "rpps": rpps}, headers=who.headers
        )
        return response

    # Not (yet) an administrator: 403, and the refusal is in the holder's history (ACC-8).
    assert error_code(block(colleague, space.nir, nurse.rpps), 403) == "not-administrator"
    denied = audit(database, space.id, "care.block-denied")
    assert [(e.actor_id, e.reason) for e in denied] == [(str(colleague.id), "not-administrator")]

    assert put_pro(client, space.headers, admin.rpps, administrator=True).status_code == 200
    done = block(admin, space.nir, nurse.rpps)
    assert done.status_code == 200, done.text
    assert done.json() == {"rpps": nurse.rpps, "status": "blocked"}
    assert professionals(client, space.headers)[nurse.rpps]["status"] == "blocked"
    assert readable(database, settings, nurse, space.id) == set()
    entry = audit(database, space.id, "care.block")[-1]
    assert (entry.actor_id, entry.target_id) == (str(admin.id), nurse.rpps)

    assert error_code(block(admin, space.nir, admin.rpps), 400) == "self-block"
    assert error_code(block(admin, UNKNOWN_NIR, colleague.rpps), 404) == "unknown-patient"
    assert error_code(block(admin, space.nir, UNKNOWN_RPPS), 404) == "unknown-professional"
    # A blocked administrator loses the role (ACC-4 needs the care team).
    assert put_pro(client, space.headers, admin.rpps, status="blocked").status_code == 200
    assert error_code(block(admin, space.nir, colleague.rpps), 403) == "not-administrator"
    assert professionals(client, space.headers)[colleague.rpps]["status"] == "declared"


def test_rep4_caregivers_read_but_do_not_change_access_settings(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    people = family(database)
    physician = new_pro(database)
    with database.transaction() as session:
        helped_nir = session.get(Holder, people.helped.id).nir  # type: ignore[union-attr]
        child_nir = session.get(Holder, people.child.id).nir  # type: ignore[union-attr]
    assert declare(client, physician, helped_nir).status_code == 202
    assert declare(client, physician, child_nir).status_code == 202

    caregiver = headers_for(database, people.caregiver.id, space=people.helped.id)
    assert physician.rpps in professionals(client, caregiver)  # reading is allowed
    refused = put_pro(client, caregiver, physician.rpps, status="blocked")
    assert error_code(refused, 403) == "caregiver-forbidden"
    assert professionals(client, caregiver)[physician.rpps]["status"] == "declared"
    assert audit(database, people.helped.id, "care.block") == []

    # REP-1, REP-2: a minor's representative manages the minor's professionals.
    parent = headers_for(database, people.parent.id, space=people.child.id)
    blocked = put_pro(client, parent, physician.rpps, status="blocked")
    assert blocked.status_code == 200, blocked.text
    entry = audit(database, people.child.id, "care.block")[0]
    assert (entry.actor_id, entry.mode) == (str(people.parent.id), "representative")
    # Someone else's space: 404, whether or not it exists.
    stranger = headers_for(database, people.caregiver.id, space=people.child.id)
    assert client.get(f"{API}/me/professionals", headers=stranger).status_code == 404


# -- item 7: explain --------------------------------------------------------------------------


def explain(client: TestClient, headers: dict[str, str], rpps: str) -> dict[str, Any]:
    response = client.get(f"{API}/me/professionals/{rpps}/access", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def category(body: dict[str, Any], code: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in body["categories"] if c["code"] == code)
    return found


def sensitivity(cat: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in cat["sensitivities"] if s["sensitivity"] == name)
    return found


def test_acc1_explain_answers_by_category_from_the_decision_point(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    space = new_space(database)
    docs = documents(database, vault, settings, space.id)
    dentist = new_pro(database, profession_code="40")
    physician = new_pro(database)

    before = explain(client, space.headers, dentist.rpps)
    assert before["summary"]["allowed"] is False
    assert {c["access"] for c in before["categories"]} == {"none"}
    reports = category(before, "CPT_REND")
    assert "n'est pas dans votre équipe de soins" in reports["explanation"]
    # What an authorisation would change: general reports yes, psychiatric ones no (matrix).
    assert sensitivity(reports, "general")["if_authorised"]["allowed"] is True
    assert sensitivity(reports, "psy")["if_authorised"]["reason"] == "profession-not-habilitated"

    for who in (dentist, physician):
        assert declare(client, who, space.nir).status_code == 202
    as_dentist = explain(client, space.headers, dentist.rpps)
    as_physician = explain(client, space.headers, physician.rpps)
    assert as_dentist["professional"]["status"] == "declared"

    reports_d, reports_p = category(as_dentist, "CPT_REND"), category(as_physician, "CPT_REND")
    assert (reports_d["access"], reports_p["access"]) == ("some", "all")
    psy_d = sensitivity(reports_d, "psy")["normal"]
    assert psy_d == {
        "allowed": False,
        "reason": "profession-not-habilitated",
        "explanation": "Sa profession ne permet pas de lire ce type de document.",
    }
    assert "Synthèse psychiatrique" in sensitivity(reports_d, "psy")["document_types"]
    masked = sensitivity(reports_p, "general")["masked"]
    assert masked["allowed"] is False
    assert masked["explanation"] == "Document masqué : visible seulement des administrateurs."
    assert reports_p["masked_access"] == "none"
    # DOC_ADM (the holder's administrative uploads) is read by no profession.
    assert category(as_physician, "DOC_ADM")["access"] == "none"
    assert category(as_dentist, "CAR_VAC")["access"] == "all"  # vaccinations: general only
    assert category(as_dentist, "BIOLOGIE")["access"] == "some"  # not molecular genetics
    assert category(as_physician, "BIOLOGIE")["access"] == "all"

    # The explanation agrees with what they really read.
    assert not can_get(database, settings, dentist, docs.psy)
    assert can_get(database, settings, physician, docs.psy)
    assert not can_get(database, settings, physician, docs.masked)

    # Administrator: masked documents too; blocked: nothing, and why.
    assert put_pro(client, space.headers, physician.rpps, administrator=True).status_code == 200
    assert (
        category(explain(client, space.headers, physician.rpps), "CPT_REND")["masked_access"]
        == "all"
    )
    assert can_get(database, settings, physician, docs.masked)
    assert put_pro(client, space.headers, dentist.rpps, status="blocked").status_code == 200
    blocked = explain(client, space.headers, dentist.rpps)
    assert category(blocked, "BIOLOGIE")["explanation"].startswith("Vous avez bloqué")
    assert blocked["own_documents"]["allowed"] is False

    occupational = new_pro(database, practice="occupational")
    assert declare(client, occupational, space.nir).status_code == 202
    express = explain(client, space.headers, occupational.rpps)
    assert "autorisez expressément" in category(express, "BIOLOGIE")["explanation"]
    assert (
        client.get(f"{API}/me/professionals/12345678903/access", headers=space.headers).status_code
        == 404
    )


def test_explain_is_open_to_caregivers_but_not_to_professionals(
    client: TestClient, database: Database
) -> None:
    people = family(database)
    physician = new_pro(database)
    caregiver = headers_for(database, people.caregiver.id, space=people.helped.id)
    assert explain(client, caregiver, physician.rpps)["summary"]["reason"] == "not-in-care-team"
    response = client.get(
        f"{API}/me/professionals/{physician.rpps}/access", headers=physician.headers
    )
    assert response.status_code == 403


def test_acc2_an_author_alone_is_not_in_the_care_team(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """The listing only shows professionals with a relationship row: a mere author is not in it."""
    space = new_space(database)
    author = new_pro(database)
    doc = deposit(database, vault, settings, space.id, author=author.principal)
    assert professionals(client, space.headers) == {}
    assert doc.author_id == author.id
    assert can_get(database, settings, author, doc.id)  # DOC-3: the author reads it
