"""The holder journeys in a real Chromium (Playwright): opposition with its proof, activation,
login with the e-mailed code, drag-and-drop upload, masking, a parent in the child's profile,
closing the space (one's own, and a child's by the parent). axe-core runs on every page: no serious or critical violation."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import service as documents
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.portal.browser import follow_menu
from tests.portal.support import (
    PASSWORD,
    deposit,
    last_code,
    make_account,
    make_child,
    make_notified,
    make_professional_in_care,
)

Check = Callable[[Any], None]


def sign_in(page: Any, database: Database, accessible: Check, username: str = "marie") -> None:
    page.goto("/login")
    accessible(page)
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/login/code")
    accessible(page)
    page.get_by_label("Code reçu par e-mail").fill(last_code(database, f"{username}@example.org"))
    page.locator("main").get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/home")


def test_opposition_without_login_and_the_proof(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, code = make_notified(database, vault, settings)
    page.goto("/")
    accessible(page)
    page.get_by_role("link", name="S'opposer à la création de votre espace").click()
    page.wait_for_url("**/opposition")
    accessible(page)
    # A mistake first: the message is tied to the field and the summary takes the focus.
    page.get_by_label("Numéro de sécurité sociale").fill("123")
    page.get_by_role("button", name="Enregistrer mon opposition").click()
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.get_by_label("Numéro de sécurité sociale")).to_have_attribute(
        "aria-invalid", "true"
    )
    accessible(page)
    page.get_by_label("Numéro de sécurité sociale").fill(holder.nir)
    page.get_by_label("Code provisoire").fill(code)
    page.get_by_role("button", name="Enregistrer mon opposition").click()
    page.wait_for_url(re.compile(r".*/opposition/[0-9a-f-]{36}$"))
    assert holder.nir not in page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Votre opposition est enregistrée")
    accessible(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger l'attestation (PDF)").click()
    path = download.value.path()
    assert path is not None
    with open(path, "rb") as proof:
        assert proof.read(5) == b"%PDF-"
    assert download.value.suggested_filename.startswith("carnet-opposition-")


def test_activation_on_one_page(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, code = make_notified(database, vault, settings)
    page.goto("/activation")
    accessible(page)
    page.get_by_label("Numéro de sécurité sociale").fill(holder.nir)
    page.get_by_label("Code provisoire").fill(code)
    page.get_by_label("Jour").fill(str(holder.birth_date.day))
    page.get_by_label("Mois").fill(str(holder.birth_date.month))
    page.get_by_label("Année").fill(str(holder.birth_date.year))
    page.get_by_label("Adresse e-mail").fill("paul@example.org")
    page.get_by_label("Identifiant").fill("paul.martin")
    page.get_by_label("Mot de passe").fill("court")
    page.get_by_role("button", name="Activer mon espace").click()
    expect(page.locator("#password-error")).to_contain_text("au moins 12 caractères")
    accessible(page)
    page.get_by_label("Mot de passe").fill("trois mots simples suffisent")
    page.get_by_role("button", name="Activer mon espace").click()
    page.wait_for_url("**/login?reason=activated")
    expect(page.get_by_role("status")).to_contain_text("Votre espace est activé")
    accessible(page)
    with database.transaction() as session:
        assert session.get(Holder, holder.id).state == "active"  # type: ignore[union-attr]


def test_login_with_password_then_the_emailed_code(
    page: Any, accessible: Check, database: Database
) -> None:
    make_account(database, first_names="Marie")
    sign_in(page, database, accessible)
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Marie")
    accessible(page)
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/login?reason=logged-out")
    accessible(page)
    _back(page)  # the back button after logout shows nothing of the space
    expect(page.locator("body")).not_to_contain_text("Bonjour Marie")
    assert "/login" in page.url


def _pdf_viewer_shown(page: Any) -> None:
    """Chromium's PDF viewer opened inside the page's frame (the content's CSP allows it)."""
    for _ in range(50):
        if any(frame.url.startswith("chrome-extension://") for frame in page.frames):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the PDF viewer did not open in the page")


def _back(page: Any) -> None:
    """The back button. A page that was the answer to a form is not kept (no-store): Chromium
    then shows its own "confirm resubmission" page, which holds nothing of ours either."""
    try:
        page.go_back()
    except PlaywrightError as exc:
        assert "ERR_CACHE_MISS" in str(exc)


def _drop(page: Any, content: bytes, name: str, kind: str) -> None:
    page.evaluate(
        """([bytes, name, kind]) => {
            const file = new File([new Uint8Array(bytes)], name, {type: kind});
            const data = new DataTransfer();
            data.items.add(file);
            const zone = document.getElementById("dropzone");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
            }
        }""",
        [list(content), name, kind],
    )


def test_drag_and_drop_upload(page: Any, accessible: Check, database: Database) -> None:
    make_account(database)
    sign_in(page, database, accessible)
    follow_menu(page, "Documents")
    page.wait_for_url("**/documents")
    expect(page.locator("#dropzone")).to_be_visible()  # the script shows the drop zone
    accessible(page)
    page.locator("#category").select_option("BIOLOGIE")
    # A file of the wrong type: refused by the server, the message shows next to the zone.
    _drop(page, b"MZ\x90\x00 not a document", "programme.exe", "application/octet-stream")
    expect(page.locator("#upload-status")).to_contain_text("Ce type de fichier n'est pas accepté")
    expect(page.locator("#upload-progress")).to_be_visible()
    # A real drop of a PDF: sent with progress, then the list shows it.
    with page.expect_navigation():
        _drop(page, pdf_bytes("Glycémie"), "Glycémie à jeun.pdf", "application/pdf")
    expect(page.get_by_role("status").first).to_contain_text("Le document a été ajouté.")
    expect(page.get_by_role("link", name="Glycémie à jeun")).to_be_visible()
    expect(page.locator(".documents")).to_contain_text("Résultats de biologie")
    accessible(page)


def test_mask_a_document_from_professionals(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    pro = make_professional_in_care(database, holder)
    doc_id = deposit(database, vault, settings, holder, "Consultation de suivi")
    reader = Principal(PrincipalKind.PROFESSIONAL, pro.id)

    def seen_by_professional() -> int:
        with database.transaction() as session:
            space = session.get(Holder, holder.id)
            assert space is not None
            total, _rows = documents.search(
                session, settings, reader, space, documents.SearchQuery()
            )
            return total

    assert seen_by_professional() == 1
    sign_in(page, database, accessible)
    page.goto("/documents")
    page.get_by_role("link", name="Consultation de suivi").click()
    page.wait_for_url(f"**/documents/{doc_id}")
    expect(page.locator("iframe.viewer")).to_be_visible()
    _pdf_viewer_shown(page)
    accessible(page)
    mask = page.get_by_role("button", name="Masquer aux professionnels")
    mask.scroll_into_view_if_needed()  # below the PDF viewer, which may take a first click
    mask.click()
    page.wait_for_url(f"**/documents/{doc_id}")
    expect(page.get_by_role("status").first).to_contain_text("masqué aux professionnels")
    expect(page.locator(".badges")).to_contain_text("Masqué aux professionnels")
    accessible(page)
    assert seen_by_professional() == 0


def test_a_parent_in_the_childs_profile_cannot_see_rep2_documents(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    parent = make_account(database)
    child = make_child(database, parent)
    deposit(database, vault, settings, child, "Vaccination DTP")
    secret = deposit(
        database,
        vault,
        settings,
        child,
        "Consultation confidentielle",
        invisible_to_representatives=True,
    )
    sign_in(page, database, accessible)
    page.get_by_label("Profil").select_option(str(child.id))
    page.get_by_role("button", name="Changer de profil").click()
    page.wait_for_url("**/home")
    expect(page.locator(".space-owner")).to_contain_text("représentant légal")
    expect(page.locator(".space-owner")).to_contain_text("Léa DUPONT")
    accessible(page)
    follow_menu(page, "Documents")
    expect(page.get_by_role("link", name="Vaccination DTP")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Consultation confidentielle")
    accessible(page)
    page.goto(f"/documents/{secret}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    accessible(page)


def test_close_the_space(page: Any, accessible: Check, database: Database) -> None:
    holder = make_account(database, first_names="Marie")
    sign_in(page, database, accessible)
    follow_menu(page, "Mon compte")
    accessible(page)
    page.get_by_role("link", name="Ce que signifie la fermeture, et comment la demander").click()
    page.wait_for_url("**/account/close")
    accessible(page)
    page.get_by_role("button", name="Fermer mon espace").click()  # nothing chosen yet
    expect(page.locator("#error-summary")).to_contain_text("Cochez la case")
    accessible(page)
    page.get_by_label("Les garder archivées").check()
    page.get_by_label("J'ai compris les conséquences et je veux fermer mon espace").check()
    page.get_by_role("button", name="Fermer mon espace").click()
    page.wait_for_url("**/closed?erase=0")
    expect(page.get_by_role("status")).to_contain_text("archivé pendant 10 ans")
    accessible(page)
    _back(page)
    expect(page.locator("body")).not_to_contain_text("Marie")
    with database.transaction() as session:
        assert session.get(Holder, holder.id).state == "closed"  # type: ignore[union-attr]


def test_a_parent_closes_the_childs_space(page: Any, accessible: Check, database: Database) -> None:
    """LC-5, REP-1: from the child's profile, the closing page names the child and the
    consequences; once confirmed the child's space is closed and the parent, still signed in,
    is back in their own space."""
    parent = make_account(database, first_names="Marie")
    child = make_child(database, parent)
    sign_in(page, database, accessible)
    page.get_by_label("Profil").select_option(str(child.id))
    page.get_by_role("button", name="Changer de profil").click()
    page.wait_for_url("**/home")
    follow_menu(page, "Mon compte")
    expect(page.locator("main")).to_contain_text("vous pouvez fermer l'espace de Léa DUPONT")
    accessible(page)
    page.get_by_role("link", name="Ce que signifie la fermeture, et comment la demander").click()
    page.wait_for_url("**/account/close")
    expect(page.get_by_role("heading", level=1)).to_have_text("Fermer l'espace de Léa DUPONT")
    expect(page.locator("#consequences-title")).to_have_text(
        "Ce qui se passe quand vous fermez l'espace de Léa DUPONT"
    )
    accessible(page)
    page.get_by_role("button", name="Fermer cet espace").click()  # nothing chosen yet
    expect(page.locator("#error-summary")).to_contain_text("Cochez la case")
    accessible(page)
    page.get_by_label("Les garder archivées").check()
    page.get_by_label(
        "J'ai compris les conséquences et je veux fermer l'espace de Léa DUPONT"
    ).check()
    page.get_by_role("button", name="Fermer cet espace").click()
    page.wait_for_url("**/home")
    expect(page.get_by_role("status")).to_contain_text("L'espace est fermé")
    expect(page.locator(".space-owner")).to_contain_text("Votre espace")
    accessible(page)
    with database.transaction() as session:
        assert session.get(Holder, child.id).state == "closed"  # type: ignore[union-attr]
        assert session.get(Holder, parent.id).state == "active"  # type: ignore[union-attr]


def test_english_pages_are_accessible_too(page: Any, accessible: Check, database: Database) -> None:
    make_account(database)
    sign_in(page, database, accessible)
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    for path in ("/home", "/documents", "/contacts", "/account"):
        page.goto(path)
        accessible(page)
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/documents")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, "no horizontal scrolling at 320 px"
    accessible(page)
