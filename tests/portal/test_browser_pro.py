"""The professional side in a real Chromium (Playwright): log in with the e-mailed code, find a
holder by NIR, declare care, deposit a PDF by a real drop event, then open an emergency access on
another holder and see the banner. axe-core runs on every page: no serious or critical violation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.portal.support import deposit, last_code, make_account
from tests.portal.test_browser import _drop
from tests.portal.test_pro_pages import make_pro

Check = Callable[[Any], None]


def test_professional_journey(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    first = make_account(database)
    deposit(database, vault, settings, first, "Bilan sanguin")
    second = make_account(database, "paul", first_names="Paul", birth_name="MARTIN")
    pro = make_pro(database)

    page.goto("/pro/login")
    accessible(page)
    page.get_by_label("Numéro RPPS").fill(pro.rpps)
    page.get_by_label("Mot de passe").fill("un mot de passe assez long")
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/pro/login/code")
    accessible(page)
    page.get_by_label("Code reçu par e-mail").fill(last_code(database, "dr@example.org"))
    page.locator("main").get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/pro")
    accessible(page)

    # Find the first holder by NIR: the number goes in the form body, never in the address.
    page.get_by_label("Numéro de sécurité sociale (NIR)").fill(first.nir)
    page.get_by_role("button", name="Rechercher le patient").click()
    page.wait_for_url("**/pro/patient")
    assert first.nir not in page.url
    expect(page.locator("main")).to_contain_text("DUPONT")
    expect(page.locator("main")).to_contain_text("Aucun document que vous pouvez lire.")
    accessible(page)

    # Declare care: the documents the decision point allows appear.
    page.get_by_role("button", name="Déclarer que je soigne ce patient").click()
    page.wait_for_url("**/pro/patient")
    expect(page.get_by_role("status").first).to_contain_text("Vous êtes maintenant déclaré")
    expect(page.get_by_role("link", name="Bilan sanguin")).to_be_visible()
    accessible(page)

    # Deposit a PDF by a real drop event, with a LOINC type.
    expect(page.locator("#dropzone")).to_be_visible()
    page.locator("#type_code").select_option("11502-2")
    with page.expect_navigation():
        _drop(page, pdf_bytes("Compte rendu"), "Compte rendu opératoire.pdf", "application/pdf")
    expect(page.get_by_role("status").first).to_contain_text("Le document a été ajouté.")
    expect(page.get_by_role("link", name="Compte rendu opératoire")).to_be_visible()
    accessible(page)

    # Emergency access on another holder: a reason, then the banner with the mode and the end.
    page.get_by_role("link", name="Rechercher un patient").click()
    page.wait_for_url("**/pro")
    page.get_by_label("Numéro de sécurité sociale (NIR)").fill(second.nir)
    page.get_by_role("button", name="Rechercher le patient").click()
    page.wait_for_url("**/pro/patient")
    expect(page.locator("main")).to_contain_text("MARTIN")
    page.get_by_role("button", name="Ouvrir un accès en urgence").click()
    page.wait_for_url("**/pro/patient/emergency")  # the form again, its error tied to the field
    expect(page.locator("#reason-error")).to_contain_text("Indiquez le motif")
    accessible(page)
    page.get_by_label("Motif").fill("Patient inconscient aux urgences")
    page.get_by_role("button", name="Ouvrir un accès en urgence").click()
    page.wait_for_url("**/pro/patient")
    banner = page.get_by_role("region", name="Mode d'accès")
    expect(banner).to_contain_text("Mode d'accès : Urgence")
    expect(banner).to_contain_text("ouvert jusqu'au")
    accessible(page)

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/pro/login?reason=logged-out")
    accessible(page)
