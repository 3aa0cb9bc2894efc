"""Issue 16 items 6-8 in a real Chromium (Playwright): from the welcome page to the professional
sign-in, a NIR with a wrong key said so, the patient's medical summary above the documents, the
professional's relation, the documents' filters and pages; on the holder side, each professional's
relation without "Authorise" for one already in the care team. axe-core runs on every page: no
violation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.portal.support import deposit, last_code, make_account
from tests.portal.test_browser import sign_in
from tests.portal.test_pro_pages import make_pro
from tests.portal.test_pro_patient_page import _fill, _in_care

Check = Callable[[Any], None]


def test_professional_reads_the_summary_then_pages_and_filters_the_documents(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    _fill(database, vault, settings, holder)
    pro = make_pro(database)
    _in_care(database, holder, pro)
    for n in range(21):
        deposit(database, vault, settings, holder, f"Résultat {n:02d}")

    page.goto("/")
    accessible(page)
    page.get_by_role("link", name="Connexion des professionnels de santé").click()
    page.wait_for_url("**/pro/login")
    page.get_by_label("Numéro RPPS").fill(pro.rpps)
    page.get_by_label("Mot de passe").fill("un mot de passe assez long")
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/pro/login/code")
    page.get_by_label("Code reçu par e-mail").fill(last_code(database, "dr@example.org"))
    page.locator("main").get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/pro")

    # Item 8: a NIR whose key does not match says so, on its field.
    wrong = holder.nir[:13] + f"{(int(holder.nir[13:]) + 1) % 97:02d}"
    page.get_by_label("Numéro de sécurité sociale (NIR)").fill(wrong)
    page.get_by_role("button", name="Rechercher le patient").click()
    expect(page.locator("#nir-error")).to_contain_text("La clé du NIR ne correspond pas")
    accessible(page)

    page.get_by_label("Numéro de sécurité sociale (NIR)").fill(holder.nir)
    page.get_by_role("button", name="Rechercher le patient").click()
    page.wait_for_url("**/pro/patient")
    summary = page.get_by_role("region", name="Synthèse médicale")
    expect(summary).to_contain_text("Pénicilline")
    expect(summary).to_contain_text("Accepte de donner ses organes")
    expect(page.get_by_role("region", name="Groupe sanguin")).to_contain_text("Non montré")
    expect(page.locator(".relation-status").first).to_contain_text(
        "Vous faites partie de l'équipe de soins de ce patient depuis le"
    )
    expect(page.get_by_role("button", name="Déclarer que je soigne ce patient")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Documents 1 à 20 sur 21")).to_be_visible()
    accessible(page)

    page.get_by_role("link", name="Page suivante").click()
    page.wait_for_url("**/pro/patient?page=2*")
    expect(page.get_by_role("status").filter(has_text="Documents 21 à 21 sur 21")).to_be_visible()
    accessible(page)

    page.get_by_label("Ajoutés à partir du").fill("2000-01-01")
    page.get_by_label("Ajoutés jusqu'au").fill("2000-12-31")
    page.get_by_role("button", name="Afficher").click()
    page.wait_for_url("**/pro/patient?*from=2000-01-01*")
    expect(page.locator("#documents")).to_contain_text("Aucun document que vous pouvez lire.")
    accessible(page)


def test_the_holder_sees_each_relation_and_only_the_actions_that_change_it(
    page: Any, accessible: Check, database: Database
) -> None:
    holder = make_account(database)
    authorised = make_pro(database, name="Dr Alice Autorisée")
    proposed = make_pro(database, name="Dr Paul Proposé")
    _in_care(database, holder, authorised)
    _in_care(database, holder, proposed, status="declared", gp_proposed_at=holder.created_at)
    sign_in(page, database, accessible)
    page.goto("/professionals")
    alice = page.locator("li.professional").filter(has_text="Dr Alice Autorisée")
    expect(alice).to_contain_text("vous l'avez autorisé")
    expect(alice.get_by_role("button", name="Autoriser Dr Alice Autorisée")).to_have_count(0)
    expect(alice.get_by_role("button", name="Bloquer Dr Alice Autorisée")).to_be_visible()
    paul = page.locator("#team li.professional").filter(has_text="Dr Paul Proposé")
    expect(paul).to_contain_text("Proposé comme médecin traitant : en attente de votre réponse")
    expect(paul.get_by_role("button", name="Autoriser Dr Paul Proposé")).to_have_count(0)
    accessible(page)
