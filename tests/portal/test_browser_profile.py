"""The medical profile in a real Chromium (Playwright): a parent, acting in their child's space
(REP-1), adds a measurement, changes it, reads its history of changes, and sees it on the growth
curve (server-rendered SVG). axe-core runs on every page: no serious or critical violation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from carnet import clock
from carnet.config import Settings
from carnet.db import Database
from tests.portal.browser import follow_menu
from tests.portal.support import make_account, make_child
from tests.portal.test_browser import sign_in
from tests.profile.growth_support import SOURCE, write_reference

Check = Callable[[Any], None]


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"growth_reference_file": write_reference(tmp_path / "growth.csv", step=60)}
    )


def test_a_parent_records_a_childs_weight_and_sees_the_growth_curve(
    page: Any, accessible: Check, database: Database
) -> None:
    parent = make_account(database)
    make_child(database, parent, birth_date=clock.today() - dt.timedelta(days=800))
    sign_in(page, database, accessible)
    page.get_by_label("Profil", exact=True).select_option(label="Léa DUPONT (représentant légal)")
    page.get_by_role("button", name="Changer de profil").click()
    page.wait_for_url("**/home")
    follow_menu(page, "Profil médical")
    page.wait_for_url("**/medical-profile")
    expect(page.get_by_role("heading", level=1)).to_have_text("Profil médical")
    accessible(page)
    page.get_by_role("link", name="Mesures", exact=True).click()
    page.wait_for_url("**/medical-profile/measurement")
    add = page.locator("form#new")
    add.get_by_label("Mesure").select_option("weight")
    add.get_by_label("Valeur").fill("1250")  # grams typed instead of kilograms
    add.get_by_label("Date").fill((clock.today() - dt.timedelta(days=3)).isoformat())
    add.get_by_role("button", name="Ajouter").click()
    expect(page.locator("#error-summary")).to_contain_text(
        "Valeur impossible pour poids : saisissez une valeur entre 0,2 et 400 kg."
    )
    accessible(page)
    add = page.locator("form#new")
    add.get_by_label("Valeur").fill("12,5")
    add.get_by_role("button", name="Ajouter").click()
    page.wait_for_url("**/medical-profile/measurement")
    expect(page.get_by_role("status")).to_contain_text("Le profil médical est enregistré.")
    entry = page.locator("li.document").filter(has_text="Poids — 12,5 kg")
    expect(entry).to_be_visible()
    entry.get_by_text("Modifier").click()
    entry.get_by_label("Valeur").fill("12,8")
    entry.get_by_role("button", name="Enregistrer les modifications").click()
    page.wait_for_url("**/medical-profile/measurement")
    expect(page.get_by_role("heading", name="Poids — 12,8 kg")).to_be_visible()
    chart = page.locator("#chart-weight svg")
    expect(chart).to_be_visible()
    expect(chart.locator("circle")).to_have_count(1)
    expect(chart.locator("polyline")).to_have_count(5)  # P3, P15, P50, P85, P97
    expect(page.get_by_role("img", name="Courbe de croissance : Poids selon l'âge")).to_be_visible()
    expect(page.get_by_text(f"Référence : {SOURCE}.")).to_be_visible()
    accessible(page)
    page.locator("li.document").first.get_by_role(
        "link", name="Historique des modifications"
    ).click()
    page.wait_for_url("**/history")
    expect(page.locator("main")).to_contain_text("Ajouté")
    expect(page.locator("main")).to_contain_text("Modifié")
    expect(page.locator("main")).to_contain_text("représentant légal")
    accessible(page)
