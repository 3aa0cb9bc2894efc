"""Issue 16 in a real Chromium: the access history in plain words, one line per page view, with
"report" only on someone else's access and unknown filters refused (ACC-8); the holder writes
first to a pharmacy that dispensed to them (SRV-1). axe-core runs on every page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.factories import make_professional
from tests.portal.browser import follow_menu
from tests.portal.support import (
    deposit,
    emergency_access_to_new_account,
    make_account,
)
from tests.portal.test_browser import sign_in

Check = Callable[[Any], None]


def test_the_history_in_words_with_reports_of_others_only(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    _holder, pro = emergency_access_to_new_account(database, vault, settings)
    sign_in(page, database, accessible)
    follow_menu(page, "Agenda")
    page.wait_for_url("**/agenda")
    follow_menu(page, "Historique")
    page.wait_for_url("**/history")
    rows = page.locator("table.history tbody tr")
    agenda = rows.filter(has_text="A consulté l'agenda")
    expect(agenda).to_have_count(1)  # one page view, one line
    expect(agenda).to_contain_text("A consulté le calendrier de prévention")
    expect(agenda.get_by_text("Signaler cet accès")).to_have_count(0)  # one's own
    theirs = rows.filter(has_text=pro.name)
    expect(theirs.first.get_by_text("Signaler cet accès").first).to_be_visible()
    expect(page.locator("table.history")).not_to_contain_text("agenda.read")
    accessible(page)
    page.goto("/history?rpps=" + pro.rpps)
    expect(page.locator("#error-summary")).to_contain_text("Filtre inconnu : rpps.")
    expect(page.locator("table.history")).to_have_count(0)
    accessible(page)


def test_the_holder_writes_first_to_a_pharmacy(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    with database.transaction() as session:
        pharmacy = make_professional(session, profession_code="21", name="Pharmacie du Marché")
    deposit(database, vault, settings, holder, "Délivrance", author=pharmacy)
    sign_in(page, database, accessible)
    follow_menu(page, "Messagerie")
    page.wait_for_url("**/messages")
    expect(page.get_by_role("heading", name="Écrire à une pharmacie")).to_be_visible()
    accessible(page)
    page.get_by_label("Objet").fill("Ordonnance")
    page.get_by_label("Votre message").fill("Est-ce prêt ?")
    page.get_by_role("button", name="Envoyer").click()  # no pharmacy chosen yet
    expect(page.locator("#error-summary")).to_contain_text(
        "Choisissez la pharmacie à laquelle vous écrivez."
    )
    expect(page.get_by_label("Votre message")).to_have_value("Est-ce prêt ?")
    accessible(page)
    page.get_by_label("Pharmacie", exact=True).select_option(pharmacy.rpps)
    page.get_by_role("button", name="Envoyer").click()
    page.wait_for_url("**/messages/*")
    expect(page.get_by_role("status")).to_contain_text("Votre message a été envoyé.")
    expect(page.get_by_text("Est-ce prêt ?")).to_be_visible()
    accessible(page)
