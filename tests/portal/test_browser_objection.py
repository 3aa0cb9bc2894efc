"""Objecting to a suspension in a real Chromium (rule LC-6): the page the notice links to, its
errors, and the confirmation; axe-core finds no serious violation on each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from carnet import clock
from carnet.accounts.models import SuspensionObjection
from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.portal.test_suspension_objection import suspended

Check = Callable[[Any], None]


def test_holder_objects_to_a_suspension(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, code = suspended(database, vault, settings, clock.today(settings.timezone))
    page.goto("/suspension/objection")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "S'opposer à la suspension d'un espace"
    )
    accessible(page)
    page.get_by_role("button", name="Envoyer mon opposition").click()
    expect(page.get_by_role("alert")).to_contain_text("Choisissez pourquoi")
    accessible(page)
    page.get_by_label("Numéro de sécurité sociale").fill(holder.nir)
    page.get_by_label("Code provisoire").fill(code)
    page.get_by_label("Le problème à l'origine de la suspension est réglé").check()
    page.get_by_label("Ce que l'agent doit savoir (facultatif)").fill("Carte retrouvée.")
    page.get_by_role("button", name="Envoyer mon opposition").click()
    page.wait_for_url("**/suspension/objection/recorded")
    expect(page.get_by_role("status")).to_contain_text("Votre opposition à la suspension")
    accessible(page)
    with database.transaction() as session:
        [row] = session.scalars(select(SuspensionObjection)).all()
        assert row.reason == "resolved" and row.sealed_note is not None
