"""My professionals and the access history in a real Chromium (Playwright): block a professional
(then their search finds nothing), an emergency access then the holder sees it in the history.
axe-core runs on every page: no serious or critical violation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from carnet.access import care_team
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import service as documents
from carnet.vault.service import Vault
from tests.portal.browser import follow_menu
from tests.portal.support import (
    deposit,
    emergency_access_to_new_account,
    make_account,
    make_professional_in_care,
)
from tests.portal.test_browser import sign_in

Check = Callable[[Any], None]


def test_block_a_professional(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    pro = make_professional_in_care(database, holder)
    deposit(database, vault, settings, holder, "Bilan sanguin")

    def seen_by_professional() -> int:
        with database.transaction() as session:
            total, _rows = documents.search(
                session,
                settings,
                Principal(PrincipalKind.PROFESSIONAL, pro.id),
                session.get(Holder, holder.id),  # type: ignore[arg-type]
                documents.SearchQuery(),
            )
            return total

    assert seen_by_professional() == 1
    sign_in(page, database, accessible)
    follow_menu(page, "Mes professionnels")
    page.wait_for_url("**/professionals")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes professionnels")
    page.get_by_text("Que peut lire ce professionnel ?").click()
    accessible(page)
    page.get_by_role("button", name=f"Bloquer {pro.name}").click()
    page.wait_for_url("**/professionals")
    expect(page.get_by_role("status")).to_contain_text("Le professionnel est bloqué")
    expect(page.get_by_role("button", name=f"Débloquer {pro.name}")).to_be_visible()
    accessible(page)
    assert seen_by_professional() == 0


def test_emergency_access_then_the_holder_sees_it_in_the_history(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    _holder, pro = emergency_access_to_new_account(database, vault, settings)
    sign_in(page, database, accessible)
    follow_menu(page, "Historique")
    page.wait_for_url("**/history")
    accessible(page)
    page.get_by_label("Mode").select_option("emergency")
    page.get_by_role("button", name="Afficher").click()
    page.wait_for_url("**/history?*mode=emergency*")
    row = page.locator("table.history tbody tr").first
    expect(row).to_contain_text("Urgence")
    expect(row).to_contain_text(pro.name)
    expect(row).to_contain_text("A ouvert un accès en urgence")
    accessible(page)
    row.get_by_text("Signaler cet accès").first.click()
    row.get_by_label("Qu'est-ce qui vous semble anormal ? (facultatif)").fill("Inconnu")
    row.get_by_role("button", name="Signaler cet accès").click()
    page.wait_for_url("**/history")
    expect(page.get_by_role("status").first).to_contain_text("L'accès est signalé")
    accessible(page)


def test_acc4_the_holder_confirms_a_gp_proposal(
    page: Any, accessible: Check, database: Database, settings: Settings
) -> None:
    """ACC-4: a physician's "I am the GP" waits in "Mes professionnels"; the holder confirms it,
    then the physician is shown as the GP (médecin traitant)."""
    from tests.factories import make_professional

    holder = make_account(database)
    with database.transaction() as session:
        pro = make_professional(session, name="Dr Choisi")
        care_team.declare(
            session, settings, Principal(PrincipalKind.PROFESSIONAL, pro.id), holder.nir, as_gp=True
        )
    sign_in(page, database, accessible)
    follow_menu(page, "Mes professionnels")
    page.wait_for_url("**/professionals")
    expect(
        page.get_by_role(
            "heading", name="Propositions de médecin traitant en attente de votre réponse"
        )
    ).to_be_visible()
    accessible(page)
    page.get_by_role("button", name="Confirmer Dr Choisi comme médecin traitant").click()
    page.wait_for_url("**/professionals")
    expect(page.get_by_role("status")).to_contain_text(
        "Ce médecin est désormais votre médecin traitant"
    )
    expect(page.locator("#gp-proposals")).to_have_count(0)
    expect(page.locator("li.professional", has_text="Dr Choisi")).to_contain_text(
        "Médecin traitant"
    )
    accessible(page)
