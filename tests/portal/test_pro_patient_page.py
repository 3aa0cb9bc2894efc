"""The professional's patient page (issue 16 items 6-8): the medical summary ACC-7 lets them see
(audited like the FHIR and profile reads), their own care relation with only the actions that
change it, the documents as a monthly timeline with filters and pages; on the holder side, each
professional's relation without an "Authorise" for one already in the care team; the welcome
page's way to the professional sign-in; the NIR key message."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.access.models import CareRelationship
from carnet.accounts import wishes
from carnet.accounts.models import Holder, Professional
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.profile import service as profile
from carnet.vault.service import Vault
from tests.portal.support import deposit, log_in, make_account
from tests.portal.test_pro_pages import make_pro, pro_log_in, send


def _text(page: Any) -> str:
    """The page's words, without tags, as a reader hears them."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))


def _fill(database: Database, vault: Vault, settings: Settings, holder: Holder) -> None:
    """A medical profile and the four contacts and wishes, written by the holder."""
    me = Principal(PrincipalKind.HOLDER, holder.id)
    with database.transaction() as session:
        space = session.get(Holder, holder.id)
        assert space is not None
        ctx = profile.context(session, vault, settings, me, space, None)
        profile.create_entry(ctx, "allergy", {"substance": "Pénicilline", "severity": "severe"})
        profile.create_entry(ctx, "treatment", {"label": "Ventoline", "dosage": "2 bouffées"})
        profile.create_entry(ctx, "treatment", {"label": "Amoxicilline", "current": False})
        profile.create_entry(ctx, "illness", {"label": "Asthme", "status": "current"})
        profile.create_entry(ctx, "vaccination", {"vaccine": "DTP", "date": "2020-05-04"})
        profile.create_entry(ctx, "blood_group", {"value": "O-"})
        wishes.add_emergency_contact(session, vault, space,
                                     {"name": "Bruno Martin", "relation": "frère",
                                      "phone": "0612345678"}, me)  # fmt: skip
        wishes.put_single(session, vault, space, "trusted_person", {"name": "Claire Petit"}, me)
        wishes.put_single(session, vault, space, "organ_donation", {"choice": "donor"}, me)
        wishes.put_single(session, vault, space, "advance_directives",
                          {"has_directives": True, "where_kept": "Chez mon notaire"}, me)  # fmt: skip


def _in_care(database: Database, holder: Holder, pro: Professional, **values: Any) -> None:
    with database.transaction() as session:
        session.add(CareRelationship(holder_id=holder.id, professional_id=pro.id,
                                     status=values.pop("status", "authorised"), **values))  # fmt: skip


def _open_patient(client: TestClient, database: Database, pro: Professional, nir: str) -> None:
    pro_log_in(client, database, pro)
    assert send(client, "/pro/find", {"nir": nir}).status_code == 303


def test_the_summary_shows_what_acc7_allows_and_each_read_is_audited(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    _fill(database, vault, settings, holder)
    pro = make_pro(database)
    _in_care(database, holder, pro)
    _open_patient(client, database, pro, holder.nir)
    page = client.get("/pro/patient")
    assert page.status_code == 200
    body = _text(page)
    summary = body[body.index("Synthèse médicale") : body.index("Relation de soins")]
    for shown in ("Pénicilline", "Ventoline", "Asthme", "DTP", "Bruno Martin (frère)",
                  "Claire Petit", "Accepte de donner ses organes", "Chez mon notaire"):  # fmt: skip
        assert shown in summary, shown
    assert "Amoxicilline" not in summary  # a past treatment is not a current one
    # ACC-7: the blood group stays private to the holder side; a note, never the value.
    assert "O-" not in summary
    assert "Non montré aux professionnels" in summary
    with database.transaction() as session:
        reads = session.scalars(select(AuditEntry).where(AuditEntry.actor_id == str(pro.id))).all()
        actions = {(e.action, e.reason) for e in reads}
    assert ("profile.read", "acc-7") in actions
    assert ("wishes.read", "contacts-and-wishes") in actions


def test_a_professional_outside_the_care_team_gets_notes_not_errors(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    _fill(database, vault, settings, holder)
    pro = make_pro(database)
    _open_patient(client, database, pro, holder.nir)
    page = client.get("/pro/patient")
    assert page.status_code == 200
    body = _text(page)
    assert "Pénicilline" not in body and "Bruno Martin" not in body
    assert body.count("Non montré aux professionnels") == 5
    assert "Non montré : vous n'accédez pas à l'espace de ce patient" in body
    with database.transaction() as session:
        denied = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor_id == str(pro.id))
        ).all()
    assert {"profile.read-denied", "wishes.read-denied"} <= set(denied)


def test_documents_come_twenty_a_page_by_month_with_filters(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    pro = make_pro(database)
    _in_care(database, holder, pro)
    for n in range(20):
        deposit(database, vault, settings, holder, f"Résultat {n:02d}")
    deposit(database, vault, settings, holder, "Le mien", author=pro)
    _open_patient(client, database, pro, holder.nir)
    first = client.get("/pro/patient")
    body = _text(first)
    assert "Documents 1 à 20 sur 21" in body
    assert body.count("Ajouté par") == 20
    assert "Le mien" in body  # newest first
    assert "Page 1 sur 2" in body and "Page suivante" in body and "Page précédente" not in body
    second = _text(client.get("/pro/patient", params={"page": "2"}))
    assert "Documents 21 à 21 sur 21" in second and "Page précédente" in second
    assert "Résultat 00" in second
    # The month of deposit heads each group (a timeline).
    assert re.search(r'<h3 id="month-1">[^<]+ 20\d\d</h3>', first.text)
    # Filters: mine, a type with nothing, a date range before everything; kept in page links.
    mine = _text(client.get("/pro/patient", params={"mine": "1"}))
    assert "Documents 1 à 1 sur 1" in mine and "Le mien" in mine
    none = _text(client.get("/pro/patient", params={"type": "34133-9"}))
    assert "Aucun document que vous pouvez lire." in none
    old = _text(client.get("/pro/patient", params={"from": "1999-01-01", "to": "2000-01-01"}))
    assert "Aucun document que vous pouvez lire." in old
    typed = client.get("/pro/patient", params={"type": "11502-2"})
    assert "type=11502-2&amp;page=2" in typed.text
    wrong = client.get("/pro/patient", params={"from": "demain"})
    assert wrong.status_code == 400
    assert "Saisissez une date sous la forme AAAA-MM-JJ" in _text(wrong)
    assert "Documents 1 à 20 sur 21" in _text(wrong)  # shown without the wrong date


def _relation(client: TestClient) -> str:
    body = _text(client.get("/pro/patient"))
    return body[body.index("Relation de soins") : body.index("Documents que vous pouvez lire")]


def test_the_professional_sees_their_relation_and_only_the_actions_that_change_it(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database)
    pro = make_pro(database)
    _open_patient(client, database, pro, holder.nir)
    none = _relation(client)
    assert "Vous ne faites pas partie de l'équipe de soins de ce patient." in none
    assert "Déclarer que je soigne ce patient" in none
    assert "Je suis le médecin traitant de ce patient" in none
    assert send(client, "/pro/patient/declare", {}).status_code == 303
    member = _relation(client)
    assert "Vous faites partie de l'équipe de soins de ce patient depuis le" in member
    assert "Déclarer que je soigne ce patient" not in member
    assert "Me proposer comme médecin traitant de ce patient" in member
    assert send(client, "/pro/patient/declare", {"as_gp": "1"}).status_code == 303
    proposed = _relation(client)
    assert "est en attente de la réponse du patient" in proposed
    assert "Me proposer comme médecin traitant" not in proposed
    with database.transaction() as session:
        rel = session.scalars(select(CareRelationship)).one()
        rel.is_gp, rel.gp_proposed_at = True, None
    gp = _relation(client)
    assert "Vous êtes le médecin traitant de ce patient." in gp
    assert (
        "<form"
        not in client.get("/pro/patient").text.split('id="relation"')[1].split("</section>")[0]
    )


def test_acc3_a_blocked_professional_reads_as_one_without_relation(
    client: TestClient, database: Database
) -> None:
    """ACC-3: a block is never told to the professional."""
    holder = make_account(database)
    pro = make_pro(database)
    _in_care(database, holder, pro, status="blocked")
    _open_patient(client, database, pro, holder.nir)
    assert "Vous ne faites pas partie de l'équipe de soins de ce patient." in _relation(client)


def test_the_holder_sees_each_relation_and_no_authorise_for_the_care_team(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database)
    authorised = make_pro(database, name="Dr Alice Autorisée")
    declared = make_pro(database, name="Dr Denis Déclaré")
    outside = make_pro(database, name="Dr Olga Occupationnelle",
                       practice="occupational")  # fmt: skip
    _in_care(database, holder, authorised)
    _in_care(database, holder, declared, status="declared")
    _in_care(database, holder, outside, status="declared")
    log_in(client, database)
    body = _text(client.get("/professionals"))
    assert "Dans votre équipe de soins depuis le" in body
    assert "vous l'avez autorisé" in body and "a déclaré vous soigner" in body
    assert "Son exercice ne lit votre espace que si vous l'autorisez." in body
    assert "Autoriser Dr Alice Autorisée" not in body
    assert "Autoriser Dr Denis Déclaré" not in body
    assert "Autoriser Dr Olga Occupationnelle" in body  # ACC-3: express authorisation changes it
    assert "Bloquer Dr Alice Autorisée" in body


def test_welcome_links_to_the_professional_sign_in(client: TestClient) -> None:
    page = client.get("/")
    assert 'href="/pro/login"' in page.text
    assert "Connexion des professionnels de santé" in _text(page)


def test_a_nir_with_a_wrong_key_says_so(client: TestClient, database: Database) -> None:
    holder = make_account(database)
    pro = make_pro(database)
    pro_log_in(client, database, pro)
    wrong_key = holder.nir[:13] + f"{(int(holder.nir[13:]) + 1) % 97:02d}"
    answer = send(client, "/pro/find", {"nir": wrong_key})
    assert answer.status_code == 400
    assert "La clé du NIR ne correspond pas" in _text(answer)
    client.get("/lang/en", follow_redirects=False)
    answer = send(client, "/pro/find", {"nir": wrong_key})
    assert "The NIR key does not match" in _text(answer)
