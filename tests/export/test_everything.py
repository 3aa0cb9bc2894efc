"""`GET /fhir/Patient/{id}/$everything` (issue 7 item 6) is exactly the sum of the individual read
endpoints for each reader (holder, professional, representative: REP-2 secret documents and the
minor's own drafts never reach a representative), messages (SRV-1) and appointments (SRV-2)
included, paged; and the health history's own visibility setting (item 4, ACC-7)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.access.models import CareRelationship
from carnet.access.rules import (
    Actor,
    Decision,
    Relation,
    SpaceFacts,
    decide_profile_read,
    decide_timeline_read,
    history_visible,
)
from carnet.accounts import wishes
from carnet.accounts.models import Holder
from carnet.audit.models import AuditEntry
from carnet.audit.rules import Mode
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import Database
from carnet.profile.fhir import RESOURCES
from carnet.vault.service import Vault
from tests.accounts.test_family import headers_for
from tests.agenda.support import body as appointment
from tests.export.test_export import (  # noqa: F401 - the fixture
    HOLDER_DRAFT,
    MINOR_DRAFT,
    PRO_DRAFT,
    SECRET_TITLE,
    World,
    me,
    world,
)
from tests.factories import make_professional
from tests.fhir.support import fhir_json, outcome, schema_errors
from tests.profile.support import bearer

Key = tuple[str, str]


def _pro(database: Database, holder_id: uuid.UUID) -> dict[str, str]:
    """A physician of the holder's care team (ACC-1)."""
    with database.transaction() as session:
        pro = make_professional(session)
        session.add(
            CareRelationship(holder_id=holder_id, professional_id=pro.id, status="authorised")
        )
        pro_id = pro.id
    return bearer(database, Principal(PrincipalKind.PROFESSIONAL, pro_id))


def _search(client: TestClient, kind: str, params: dict[str, str], headers: dict[str, str]
            ) -> list[dict[str, Any]]:  # fmt: skip
    """Every resource of one search (following `next` links); a refusal (403) is none."""
    response = client.get(f"/fhir/{kind}", params=params, headers=headers)
    if response.status_code == 403:
        return []
    bundle = fhir_json(response)
    found = [e["resource"] for e in bundle.get("entry", [])]
    following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    if following:
        found += _next(client, following[0], headers)
    return found


def _next(client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    bundle = fhir_json(client.get(url.split("/fhir", 1)[1].join(["/fhir", ""]), headers=headers))
    found = [e["resource"] for e in bundle.get("entry", [])]
    following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    return found + (_next(client, following[0], headers) if following else [])


def sum_of_reads(client: TestClient, patient: uuid.UUID, headers: dict[str, str]
                 ) -> dict[Key, dict[str, Any]]:  # fmt: skip
    """What the individual read endpoints give this reader about this patient."""
    by = {"patient": f"Patient/{patient}"}
    found = [fhir_json(client.get(f"/fhir/Patient/{patient}", headers=headers))]
    found += _search(client, "DocumentReference", {**by, "_count": "500"}, headers)
    for kind in (*RESOURCES, "ExplanationOfBenefit", "RelatedPerson", "Communication",
                 "Appointment"):  # fmt: skip
        found += _search(client, kind, by, headers)
    return {(r["resourceType"], r["id"]): r for r in found}


def everything(client: TestClient, patient: uuid.UUID, headers: dict[str, str], count: int = 500
               ) -> dict[Key, dict[str, Any]]:  # fmt: skip
    bundle = fhir_json(client.get(f"/fhir/Patient/{patient}/$everything",
                                  params={"_count": str(count)}, headers=headers))  # fmt: skip
    assert bundle["type"] == "searchset"
    found = [e["resource"] for e in bundle.get("entry", [])]
    following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    if following:
        found += _next(client, following[0], headers)
    assert len(found) == bundle["total"]
    keys = [(r["resourceType"], r["id"]) for r in found]
    assert len(keys) == len(set(keys))  # pages neither repeat nor skip
    return dict(zip(keys, found, strict=True))


def _kinds(found: dict[Key, Any]) -> set[str]:
    return {kind for kind, _id in found}


def _of(found: dict[Key, Any], kind: str) -> list[dict[str, Any]]:
    return [resource for (k, _id), resource in found.items() if k == kind]


def _bodies(found: dict[Key, Any]) -> dict[str, str]:
    """Each Communication's text, by status (`completed` or `preparation`)."""
    return {
        p["contentString"]: c["status"]
        for c in _of(found, "Communication")
        for p in c.get("payload", [])
        if "contentString" in p
    }


def test_everything_is_the_sum_of_the_read_endpoints(
    client: TestClient,
    database: Database,
    world: World,  # noqa: F811
) -> None:
    holder = headers_for(database, world.parent_id)
    pro = _pro(database, world.parent_id)
    mine = everything(client, world.parent_id, holder)
    assert mine == sum_of_reads(client, world.parent_id, holder)
    assert {"Patient", "DocumentReference", "Immunization", "Observation", "Condition",
            "AllergyIntolerance", "MedicationStatement", "ExplanationOfBenefit",
            "RelatedPerson"} <= _kinds(mine)  # fmt: skip
    assert everything(client, world.parent_id, holder, count=3) == mine  # paged

    # SRV-1: the holder's messages and own draft (preparation), never the GP's draft; SRV-2.
    assert _bodies(mine) == {"Vos résultats sont joints.": "completed", "Merci.": "completed",
                             HOLDER_DRAFT: "preparation"}  # fmt: skip
    assert PRO_DRAFT not in str(mine)
    assert len(_of(mine, "Appointment")) == 2  # the holder's and the GP's (SRV-2)

    # A professional of the care team writes and books through the API: its $everything has its
    # own conversation and appointment, never the GP's (SRV-1 participants, SRV-2 authors).
    started = client.post("/api/v1/pro/conversations", headers=pro, json={
        "patient_id": str(world.parent_id), "subject": "Suivi", "body": "Comment allez-vous ?"})
    assert started.status_code == 201, started.text
    booked = client.post(f"/api/v1/pro/patients/{world.parent_id}/appointments", headers=pro,
                         json=appointment(4))  # fmt: skip
    assert booked.status_code == 201, booked.text
    seen_by_pro = everything(client, world.parent_id, pro)
    assert seen_by_pro == sum_of_reads(client, world.parent_id, pro)
    # ACC-7: no measurement, no reimbursement for professionals; the rest of ACC-7 is there.
    assert "Observation" not in _kinds(seen_by_pro)
    assert "ExplanationOfBenefit" not in _kinds(seen_by_pro)
    assert {"Immunization", "Condition", "MedicationStatement", "RelatedPerson"} <= _kinds(
        seen_by_pro
    )
    assert _bodies(seen_by_pro) == {"Comment allez-vous ?": "completed"}
    assert [a["id"] for a in _of(seen_by_pro, "Appointment")] == [booked.json()["id"]]
    gp = bearer(database, Principal(PrincipalKind.PROFESSIONAL, world.gp_id))
    seen_by_gp = everything(client, world.parent_id, gp)
    assert seen_by_gp == sum_of_reads(client, world.parent_id, gp)
    assert _bodies(seen_by_gp) == {"Vos résultats sont joints.": "completed",
                                   "Merci.": "completed", PRO_DRAFT: "preparation"}  # fmt: skip
    assert HOLDER_DRAFT not in str(seen_by_gp) and len(_of(seen_by_gp, "Appointment")) == 1

    # REP-2: the representative reads the minor's space without the secret document, nor the
    # minor's own draft (SRV-1: drafts are their author's).
    child = everything(client, world.child_id, holder)
    assert child == sum_of_reads(client, world.child_id, holder)
    assert ("DocumentReference", str(world.secret_id)) not in child
    assert SECRET_TITLE not in str(child) and MINOR_DRAFT not in str(child)
    assert len([k for k in child if k[0] == "DocumentReference"]) == 1
    assert _bodies(child) == {"Rappel DTP": "completed"}
    assert len(_of(child, "Appointment")) == 1
    # The minor reads their own draft, as `preparation`.
    minor = everything(client, world.child_id, headers_for(database, world.child_id))
    assert _bodies(minor)[MINOR_DRAFT] == "preparation"

    # Nobody else: 404 for an unknown patient, only the identity for a stranger professional.
    outcome(client.get(f"/fhir/Patient/{uuid.uuid4()}/$everything", headers=holder), 404)
    stranger = bearer(database, Principal(PrincipalKind.PROFESSIONAL, _stranger(database)))
    assert _kinds(everything(client, world.parent_id, stranger)) == {"Patient"}
    outcome(client.get(f"/fhir/Patient/{world.parent_id}/$everything",
                       params={"since": "2020"}, headers=holder), 400)  # fmt: skip


def _stranger(database: Database) -> uuid.UUID:
    with database.transaction() as session:
        return make_professional(session).id


def test_the_holder_may_hide_the_health_history_from_professionals(
    client: TestClient,
    database: Database,
    world: World,  # noqa: F811
) -> None:
    """Issue 7 item 4: ACC-7 shows the health history to professionals by default; the holder
    (or a representative, not a caregiver: REP-4) may hide it; vaccinations stay visible."""
    holder = headers_for(database, world.parent_id)
    pro = _pro(database, world.parent_id)
    settings = client.get("/api/v1/me/timeline-settings", headers=holder)
    assert settings.json()["visible_to_professionals"] is True
    timeline = client.get(f"/api/v1/pro/patients/{world.parent_id}/timeline", headers=pro)
    assert timeline.status_code == 200, timeline.text
    categories = {e["category"] for g in timeline.json()["groups"] for e in g["entries"]}
    assert {"vaccination", "illness", "hospital_stay"} <= categories
    assert "reimbursement" not in categories  # never for professionals (SRV-4, ACC-7)

    hidden = client.put("/api/v1/me/timeline-settings", json={"visible_to_professionals": False},
                        headers=holder)  # fmt: skip
    assert hidden.status_code == 200 and hidden.json()["visible_to_professionals"] is False
    refused = client.get(f"/api/v1/pro/patients/{world.parent_id}/timeline", headers=pro)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "history-hidden"
    patient = {"patient": f"Patient/{world.parent_id}"}
    for kind in ("Condition", "MedicationStatement", "AllergyIntolerance"):
        outcome(client.get(f"/fhir/{kind}", params=patient, headers=pro), 403)
    assert fhir_json(client.get("/fhir/Immunization", params=patient, headers=pro))["total"] == 1
    assert _kinds(everything(client, world.parent_id, pro)) >= {"Immunization", "RelatedPerson"}
    assert "Condition" not in _kinds(everything(client, world.parent_id, pro))
    # The holder still reads it all.
    own = client.get("/api/v1/me/timeline", headers=holder)
    assert own.status_code == 200 and own.json()["groups"]
    assert client.put("/api/v1/me/timeline-settings", json={"visible_to_professionals": "peut-être"},
                      headers=holder).status_code == 400  # fmt: skip
    with database.transaction() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(
            AuditEntry.holder_id == world.parent_id)))  # fmt: skip
    assert {"timeline.settings", "timeline.read", "timeline.read-denied"} <= actions


def test_hidden_history_in_an_emergency_follows_the_masked_switch() -> None:
    """Carnet decision: a hidden history is treated like a masked document (DOC-3, ACC-6 switch 3)."""
    principal = Principal(PrincipalKind.PROFESSIONAL, uuid.uuid4())
    emergency = Actor(principal, Relation.PROFESSIONAL, grant=Mode.EMERGENCY)
    hidden = SpaceFacts(uuid.uuid4(), "active", history_visible_to_professionals=False)
    allowing = SpaceFacts(hidden.holder_id, "active", masked_in_emergency=True,
                          history_visible_to_professionals=False)  # fmt: skip
    assert not decide_timeline_read(emergency, hidden)
    assert not decide_profile_read(emergency, hidden, "allergy")
    assert decide_profile_read(emergency, hidden, "vaccination")
    assert decide_timeline_read(emergency, allowing)
    assert decide_profile_read(emergency, allowing, "allergy")
    assert not history_visible(Decision(True, "care-team", Mode.NORMAL), allowing)
    holder = Actor(Principal(PrincipalKind.HOLDER, hidden.holder_id), Relation.SELF)
    assert decide_timeline_read(holder, hidden)


def test_organ_donation_and_advance_directives_reach_professionals(
    client: TestClient,
    database: Database,
    vault: Vault,
    world: World,  # noqa: F811
) -> None:
    """ACC-7 names organ donation and advance directives among what professionals see: they are
    in `$everything` as `Consent` (valid R4), for the holder and a professional of the care team,
    never for a stranger; the persons stay `RelatedPerson`."""
    with database.transaction() as session:
        parent = session.get(Holder, world.parent_id)
        assert parent is not None
        wishes.put_single(session, vault, parent, "organ_donation",
                          {"choice": "refuses", "note": "Registre national des refus"},
                          me(parent.id))  # fmt: skip
        wishes.put_single(session, vault, parent, "advance_directives",
                          {"has_directives": True, "where_kept": "Chez mon médecin",
                           "text": "Pas d'acharnement."}, me(parent.id))  # fmt: skip
    holder = headers_for(database, world.parent_id)
    pro = _pro(database, world.parent_id)
    for reader in (holder, pro):
        found = everything(client, world.parent_id, reader)
        consents = _of(found, "Consent")
        assert all(schema_errors(c) == [] for c in consents)
        by_scope = {c["scope"].get("text") or c["scope"]["coding"][0]["code"]: c for c in consents}
        assert set(by_scope) == {"Organ donation", "adr"}
        assert by_scope["Organ donation"]["provision"] == {"type": "deny"}
        directives = by_scope["adr"]["sourceAttachment"]
        assert directives["title"] == "Chez mon médecin"
        assert base64.b64decode(directives["data"]).decode() == "Pas d'acharnement."
        # Everything else is still the sum of the read endpoints.
        rest = {k: r for k, r in found.items() if k[0] != "Consent"}
        assert rest == sum_of_reads(client, world.parent_id, reader)
    stranger = bearer(database, Principal(PrincipalKind.PROFESSIONAL, _stranger(database)))
    assert "Consent" not in _kinds(everything(client, world.parent_id, stranger))
    # A holder who has written no directives: nothing to point to, no Consent for them.
    with database.transaction() as session:
        parent = session.get(Holder, world.parent_id)
        assert parent is not None
        wishes.put_single(session, vault, parent, "advance_directives",
                          {"has_directives": False}, me(parent.id))  # fmt: skip
    scopes = [c["scope"].get("text") for c in _of(everything(client, world.parent_id, pro),
                                                    "Consent")]  # fmt: skip
    assert scopes == ["Organ donation"]
