"""The agenda page in a real Chromium (SRV-2): add an appointment (a date that has passed first,
refused next to its field), switch the prevention calendar off, get the private link, read it,
revoke it. axe-core finds no serious violation on each state of the page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from carnet import clock
from carnet.db import Database
from tests.agenda.support import PARIS
from tests.portal.browser import follow_menu
from tests.portal.support import make_account
from tests.portal.test_browser import sign_in

Check = Callable[[Any], None]


def test_the_holder_uses_the_agenda_page(page: Any, accessible: Check, database: Database) -> None:
    make_account(database)
    sign_in(page, database, accessible)
    follow_menu(page, "Agenda")
    page.wait_for_url("**/agenda")
    expect(page.get_by_role("heading", level=1)).to_have_text("Agenda")
    expect(page.get_by_role("heading", name="Calendrier de prévention")).to_be_visible()
    accessible(page)

    today = clock.now().astimezone(PARIS).date()
    page.get_by_label("Titre").fill("Dentiste")
    page.get_by_label("Date").fill((today - dt.timedelta(days=2)).isoformat())
    page.get_by_label("Heure (heure de Paris)").fill("10:00")
    page.get_by_role("button", name="Ajouter le rendez-vous").click()
    expect(page.locator("#error-summary")).to_contain_text("ne sont pas encore passées")
    expect(page.get_by_label("Date")).to_have_attribute("aria-invalid", "true")
    accessible(page)

    page.get_by_label("Date").fill((today + dt.timedelta(days=7)).isoformat())
    page.get_by_label("Lieu (facultatif)").fill("Cabinet du Dr Sourire")
    page.get_by_role("button", name="Ajouter le rendez-vous").click()
    page.wait_for_url("**/agenda")
    expect(page.get_by_role("status")).to_contain_text("Le rendez-vous a été ajouté")
    expect(page.locator("table.appointments")).to_contain_text("Dentiste")
    expect(page.locator("table.appointments")).to_contain_text("10:00")

    page.get_by_role("button", name="Désactiver le calendrier de prévention").click()
    expect(page.get_by_text("Le calendrier de prévention est désactivé.").first).to_be_visible()
    expect(page.locator("table.prevention")).to_have_count(0)

    page.get_by_role("button", name="Obtenir un lien privé").click()
    link = page.get_by_label("Votre lien privé (affiché seulement maintenant : copiez-le)")
    url = link.input_value()
    assert "/ical/" in url and url.endswith(".ics")
    accessible(page)
    path = "/ical/" + url.split("/ical/", 1)[1]  # CARNET_BASE_URL is a placeholder in tests
    feed = page.request.get(path)
    assert feed.status == 200 and b"SUMMARY:Dentiste" in feed.body()
    page.get_by_role("button", name="Révoquer le lien").click()
    page.wait_for_url("**/agenda#feed")
    assert page.request.get(path).status == 404
