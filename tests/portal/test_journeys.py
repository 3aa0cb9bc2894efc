"""Holder journeys through the portal's forms (fast, without a browser): the same services as the
API decide, the pages say it in the person's language, double submissions are harmless."""

from __future__ import annotations

import html
import io
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.accounts.models import Holder, HolderWish, OppositionProof
from carnet.auth.models import PortalSession
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import service as documents
from carnet.documents.models import Document, Folder
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.portal.support import (
    PASSWORD,
    csrf_of,
    deposit,
    log_in,
    make_account,
    make_child,
    make_notified,
    make_professional_in_care,
    post,
)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.text)


# -- opposition (LC-2) -------------------------------------------------------------------------


def test_opposition_then_proof_and_a_second_submission(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, code = make_notified(database, vault, settings)
    form = {"nir": holder.nir[:5] + " " + holder.nir[5:], "code": code.lower(), "scope": "space"}
    response = post(client, "/opposition", form, page="/opposition")
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/opposition/[0-9a-f-]{36}", location)
    assert holder.nir not in location
    page = client.get(location)
    assert "Votre opposition est enregistrée" in text(page)
    assert holder.nir not in page.text and holder.birth_name not in page.text
    pdf = client.get(location + "/proof.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    # The same form sent again: the same proof, nothing recorded twice.
    again = post(client, "/opposition", form, page="/opposition")
    assert again.headers["location"] == location
    with database.transaction() as session:
        assert session.get(Holder, holder.id).state == "opposed"  # type: ignore[union-attr]
        assert len(session.scalars(select(OppositionProof)).all()) == 1


def test_opposition_errors_are_tied_to_their_fields(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    response = post(client, "/opposition", {"nir": "123", "code": ""}, page="/opposition")
    assert response.status_code == 400
    page = text(response)
    assert "Ce numéro de sécurité sociale n'est pas valide" in page
    assert 'id="nir"' in page and 'aria-invalid="true"' in page
    assert re.search(r'<input id="nir"[^>]*aria-describedby="nir-help nir-error"', page)
    assert re.search(r'<input id="code"[^>]*aria-invalid="true"', page)
    assert 'href="#nir"' in page  # the error summary links to the field
    holder, _code = make_notified(database, vault, settings)
    response = post(
        client, "/opposition", {"nir": holder.nir, "code": "ACDE-FGHJ-KMNP"}, page="/opposition"
    )
    assert response.status_code == 401
    assert "Le numéro de sécurité sociale ou le code n'est pas correct." in text(response)


# -- activation (LC-4), renewal ----------------------------------------------------------------


def _activation(holder: Holder, code: str, **overrides: str) -> dict[str, str]:
    form = {
        "nir": holder.nir,
        "code": code,
        "birth_day": str(holder.birth_date.day),
        "birth_month": str(holder.birth_date.month),
        "birth_year": str(holder.birth_date.year),
        "email": "paul@example.org",
        "username": "paul.martin",
        "password": "trois mots simples suffisent",
    }
    form.update(overrides)
    return form


def test_activation_on_one_page_then_login(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, code = make_notified(database, vault, settings)
    weak = post(
        client, "/activation", _activation(holder, code, password="court"), page="/activation"
    )
    assert weak.status_code == 400
    assert "Le mot de passe doit compter au moins 12 caractères." in text(weak)
    assert re.search(r'<input id="password"[^>]*aria-invalid="true"', weak.text)
    wrong_day = post(
        client, "/activation", _activation(holder, code, birth_day="2"), page="/activation"
    )
    assert "La date de naissance ne correspond pas" in text(wrong_day)
    response = post(client, "/activation", _activation(holder, code), page="/activation")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?reason=activated"
    # Sent twice: the space is activated once, the second answer says so too.
    again = post(client, "/activation", _activation(holder, code), page="/activation")
    assert again.headers["location"] == "/login?reason=activated"
    assert "Votre espace est activé" in text(client.get("/login?reason=activated"))
    log_in(client, database, "paul.martin", "trois mots simples suffisent", "paul@example.org")
    assert "Bonjour Paul" in client.get("/home").text


def test_renewal_never_tells_whether_a_number_is_known(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, _code = make_notified(database, vault, settings)
    known = post(client, "/renewal", {"nir": holder.nir}, page="/renewal")
    from carnet.accounts.rules import make_nir

    unknown = post(
        client, "/renewal", {"nir": make_nir(1, 1990, 1, "75", 999, 999)}, page="/renewal"
    )
    assert known.status_code == unknown.status_code == 200
    message = "Si ce numéro est connu de Carnet"
    assert message in text(known) and message in text(unknown)


# -- login ---------------------------------------------------------------------------------------


def test_login_code_is_single_use_and_the_challenge_is_not_readable(
    client: TestClient, database: Database
) -> None:
    make_account(database)
    response = post(client, "/login", {"username": "MARIE ", "password": PASSWORD}, page="/login")
    assert response.headers["location"] == "/login/code"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("carnet_login=")
    )
    assert "httponly" in cookie.lower() and "path=/login" in cookie.lower()
    assert client.get("/login/code").status_code == 200
    # Without the login step, the code page sends back to the start.
    client.cookies.delete("carnet_login", path="/login")
    assert client.get("/login/code", follow_redirects=False).headers["location"] == (
        "/login?reason=restart"
    )


# -- documents -----------------------------------------------------------------------------------


def _upload(  # type: ignore[no-untyped-def]
    client: TestClient,
    content: bytes,
    name: str = "compte-rendu.pdf",
    kind: str = "application/pdf",
    **fields: str,
):
    page = client.get("/documents").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert nonce is not None
    data = {"csrf_token": csrf_of(page), "nonce": nonce.group(1), "category": "CPT_REND", **fields}
    return client.post(
        "/documents/upload",
        data=data,
        files={"file": (name, io.BytesIO(content), kind)},
        follow_redirects=False,
    )


def test_upload_with_the_plain_file_field(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    response = _upload(client, pdf_bytes("Radio du genou"), title="Radio du genou")
    assert response.status_code == 303 and response.headers["location"] == "/documents"
    page = text(client.get("/documents"))
    assert "Le document a été ajouté." in page
    assert "Radio du genou" in page and "Comptes rendus" in page


def test_images_are_shown_in_the_page(client: TestClient, database: Database) -> None:
    from PIL import Image

    make_account(database)
    log_in(client, database)
    picture = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(picture, format="PNG")
    response = _upload(
        client, picture.getvalue(), name="ordonnance.png", kind="image/png", title="Ordonnance"
    )
    assert response.status_code == 303
    with database.transaction() as session:
        doc = session.scalars(select(Document)).one()
    page = client.get(f"/documents/{doc.id}")
    assert f'<img class="viewer-image" src="/documents/{doc.id}/content"' in page.text
    assert 'alt="Image du document Ordonnance"' in page.text
    content = client.get(f"/documents/{doc.id}/content")
    assert content.headers["content-type"] == "image/png"
    assert content.headers["content-disposition"].startswith("inline")
    assert content.content == picture.getvalue()


def test_a_double_submitted_upload_adds_one_document(
    client: TestClient, database: Database
) -> None:
    make_account(database)
    log_in(client, database)
    page = client.get("/documents").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    data = {"csrf_token": csrf_of(page), "nonce": nonce, "category": "AUTR_DOC"}
    for _ in range(2):
        client.post(
            "/documents/upload",
            data=data,
            files={"file": ("a.pdf", io.BytesIO(pdf_bytes()), "application/pdf")},
            follow_redirects=False,
        )
    assert "rien n'a été ajouté deux fois" in text(client.get("/documents"))
    with database.transaction() as session:
        assert len(session.scalars(select(Document)).all()) == 1


def test_upload_refusals_are_readable(
    client: TestClient, database: Database, settings: Settings
) -> None:
    make_account(database)
    log_in(client, database)
    wrong = _upload(client, b"MZ\x90\x00 not a document", name="virus.exe")
    assert wrong.status_code == 400
    assert "Ce type de fichier n'est pas accepté" in text(wrong)
    assert re.search(r'<input type="file" id="file"[^>]*aria-invalid="true"', wrong.text)
    big = _upload(client, b"%PDF-1.4\n" + b"0" * (settings.max_upload_bytes + 10))
    assert big.status_code == 413
    assert "Le fichier dépasse la limite de 5" in text(big)
    # The script asks for JSON: the same messages.
    page = client.get("/documents").text
    response = client.post(
        "/documents/upload",
        data={"csrf_token": csrf_of(page), "category": "AUTR_DOC"},
        files={"file": ("vide.pdf", io.BytesIO(b""), "application/pdf")},
        headers={"X-Requested-With": "carnet-portal"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Le fichier est vide."
    with database.transaction() as session:
        assert session.scalars(select(Document)).all() == []


def test_organise_a_document(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    doc_id = deposit(database, vault, settings, holder, "Bilan sanguin")
    log_in(client, database)
    page = f"/documents/{doc_id}"
    viewer = client.get(page)
    assert f'<iframe class="viewer" src="/documents/{doc_id}/content"' in viewer.text
    content = client.get(f"/documents/{doc_id}/content")
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in content.headers["content-security-policy"]
    assert content.headers["content-disposition"].startswith("inline")
    download = client.get(f"/documents/{doc_id}/content?download=1")
    assert download.headers["content-disposition"].startswith("attachment")

    assert post(client, f"{page}/rename", {"title": "Bilan 2026"}, page=page).status_code == 303
    assert post(client, f"{page}/rename", {"title": " "}, page=page).status_code == 400
    post(client, "/folders", {"name": "Analyses"}, page="/documents")
    with database.transaction() as session:
        folder = session.scalars(select(Folder)).one()
    post(client, f"{page}/move", {"folder_id": str(folder.id)}, page=page)
    for _ in range(2):  # the form says the wanted state: twice is the same
        post(client, f"{page}/pin", {"pinned": "1"}, page=page)
        post(client, f"{page}/mask", {"masked": "1"}, page=page)
    shown = text(client.get(page))
    assert "Bilan 2026" in shown and "Analyses" in shown
    assert "Masqué aux professionnels" in shown and "Épinglé" in shown
    with database.transaction() as session:
        doc = session.get(Document, doc_id)
        assert doc is not None and doc.masked and doc.pinned and doc.folder_id == folder.id
    confirm = client.get(f"{page}/delete")
    assert "Supprimer ce document ?" in text(confirm)
    token = csrf_of(confirm.text)
    first = client.post(f"{page}/delete", data={"csrf_token": token}, follow_redirects=False)
    second = client.post(f"{page}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert first.headers["location"] == second.headers["location"] == "/documents"
    assert "il a sans doute déjà été supprimé" in text(client.get("/documents"))


def test_masking_hides_the_document_from_a_professional(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """DOC-3: the portal's mask goes through the same service as the API."""
    holder = make_account(database)
    pro = make_professional_in_care(database, holder)
    doc_id = deposit(database, vault, settings, holder, "Consultation")
    reader = Principal(PrincipalKind.PROFESSIONAL, pro.id)
    with database.transaction() as session:
        total, _rows = documents.search(
            session,
            settings,
            reader,
            session.get(Holder, holder.id),
            documents.SearchQuery(),  # type: ignore[arg-type]
        )
        assert total == 1
    log_in(client, database)
    post(client, f"/documents/{doc_id}/mask", {"masked": "1"}, page=f"/documents/{doc_id}")
    with database.transaction() as session:
        total, _rows = documents.search(
            session,
            settings,
            reader,
            session.get(Holder, holder.id),
            documents.SearchQuery(),  # type: ignore[arg-type]
        )
        assert total == 0


def test_documents_awaiting_announcement_are_only_counted(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    deposit(database, vault, settings, holder, "Résultat à annoncer", invisible_to_patient=True)
    log_in(client, database)
    for path in ("/home", "/documents"):
        page = text(client.get(path))
        assert "1 document attend votre consultation d'annonce" in page
        assert "Résultat à annoncer" not in page


# -- profiles (REP-1, REP-2) ---------------------------------------------------------------------


def test_a_parent_acts_for_the_child_and_never_sees_rep2_documents(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    parent = make_account(database)
    child = make_child(database, parent)
    visible = deposit(database, vault, settings, child, "Vaccin DTP")
    secret = deposit(
        database,
        vault,
        settings,
        child,
        "Consultation confidentielle",
        invisible_to_representatives=True,
    )
    log_in(client, database)
    switched = post(client, "/profile", {"space_id": str(child.id), "next": "/documents"})
    assert switched.headers["location"] == "/documents"
    page = text(client.get("/documents"))
    assert "Vous agissez comme représentant légal dans l'espace de" in page
    assert "Léa DUPONT" in page
    assert "Vaccin DTP" in page and "Consultation confidentielle" not in page
    assert client.get(f"/documents/{secret}").status_code == 404
    assert client.get(f"/documents/{secret}/content").status_code == 404
    assert client.get(f"/documents/{visible}").status_code == 200
    # The parent's own documents are not reached through the child's profile, and back.
    stranger = make_account(database, "autre", birth_name="AUTRE")
    refused = post(client, "/profile", {"space_id": str(stranger.id)})
    assert refused.status_code == 404
    post(client, "/profile", {"space_id": str(parent.id)})
    assert "Votre espace" in text(client.get("/home"))
    # From the child's profile, closing concerns the child's space (LC-5, REP-1), never one's own.
    post(client, "/profile", {"space_id": str(child.id)})
    assert "Fermer l'espace de Léa DUPONT" in text(client.get("/account/close"))


# -- contacts and wishes -------------------------------------------------------------------------


def test_contacts_and_wishes(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    bad = post(client, "/contacts/emergency", {"name": "Jean", "phone": "abc"}, page="/contacts")
    assert bad.status_code == 400
    assert "Indiquez un numéro de téléphone" in text(bad)
    assert re.search(r'<input id="new-phone"[^>]*aria-invalid="true"', bad.text)
    assert 'value="Jean"' in bad.text  # what was typed is kept
    assert (
        post(
            client,
            "/contacts/emergency",
            {"name": "Jean", "relation": "frère", "phone": "06 12 34 56 78"},
            page="/contacts",
        ).status_code
        == 303
    )
    post(client, "/contacts/wish/trusted_person", {"name": "Sophie"}, page="/contacts")
    post(client, "/contacts/wish/organ_donation", {"choice": "donor"}, page="/contacts")
    post(
        client,
        "/contacts/wish/advance_directives",
        {"has_directives": "yes", "where_kept": "chez moi"},
        page="/contacts",
    )
    page = client.get("/contacts").text
    assert 'value="Jean"' in page and 'value="Sophie"' in page and 'value="chez moi"' in page
    assert re.search(r'id="organ_donation-donor" name="choice" value="donor" checked', page)
    with database.transaction() as session:
        rows = session.scalars(select(HolderWish)).all()
        assert len(rows) == 4
        assert all(b"Jean" not in row.sealed for row in rows)  # sealed by the wishes service
        contact = next(row for row in rows if row.kind == "emergency_contact")
    post(client, f"/contacts/remove/{contact.id}", page="/contacts")
    post(client, f"/contacts/remove/{contact.id}", page="/contacts")  # twice: harmless
    assert 'value="Jean"' not in client.get("/contacts").text


# -- account: preferences and closing (LC-5) -----------------------------------------------------


def test_close_the_space_after_the_confirmation_page(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database)
    log_in(client, database)
    explained = text(client.get("/account/close"))
    assert "archivées pendant 10 ans" in explained
    missing = post(client, "/account/close", {}, page="/account/close")
    assert missing.status_code == 400
    assert "Cochez la case" in text(missing) and "Choisissez ce que deviennent vos données" in text(
        missing
    )
    response = post(
        client, "/account/close", {"erase": "erase", "confirm": "1"}, page="/account/close"
    )
    assert response.headers["location"] == "/closed?erase=1"
    assert "effacement est demandé" in text(client.get(response.headers["location"]))
    with database.transaction() as session:
        assert session.get(Holder, holder.id).state == "purge-pending"  # type: ignore[union-attr]
        assert all(row.revoked_at for row in session.scalars(select(PortalSession)))
    assert client.get("/home", follow_redirects=False).status_code == 303
    refused = post(client, "/login", {"username": "marie", "password": PASSWORD}, page="/login")
    assert "Cet espace est fermé" in text(refused)


def test_a_parent_closes_the_childs_space_after_the_consequences_page(
    client: TestClient, database: Database
) -> None:
    """LC-5, REP-1: in the child's profile the closing page names the child and its consequences;
    once confirmed the child's space is closed, the parent's stays open and the parent, still
    logged in, is back in their own space. LC-7: the notice goes to the parent."""
    parent = make_account(database)
    child = make_child(database, parent)
    log_in(client, database)
    post(client, "/profile", {"space_id": str(child.id), "next": "/account"})
    account = text(client.get("/account"))
    assert "vous pouvez fermer l'espace de Léa DUPONT" in account
    page = text(client.get("/account/close"))
    assert "Ce qui se passe quand vous fermez l'espace de Léa DUPONT" in page
    assert "Les données sont archivées pendant 10 ans" in page
    missing = post(client, "/account/close", {"erase": "keep"}, page="/account/close")
    assert missing.status_code == 400
    assert "Cochez la case pour confirmer que vous voulez fermer cet espace" in text(missing)
    done = post(client, "/account/close", {"erase": "keep", "confirm": "1"}, page="/account/close")
    assert done.headers["location"] == "/home"
    home = text(client.get("/home"))
    assert "L'espace est fermé : son contenu reste archivé" in home
    assert "Votre espace" in home
    with database.transaction() as session:
        assert session.get(Holder, child.id).state == "closed"  # type: ignore[union-attr]
        assert session.get(Holder, parent.id).state == "active"  # type: ignore[union-attr]
        recipients = session.scalars(
            select(OutboxMessage.recipient).where(OutboxMessage.kind == "account.closed")
        ).all()
        assert recipients == ["marie@example.org"]


def test_preferences(client: TestClient, database: Database) -> None:
    holder = make_account(database)
    log_in(client, database)
    post(client, "/account/preferences", {"mask_new_documents": "1"}, page="/account")
    with database.transaction() as session:
        prefs = documents.preferences(session, holder.id)
        assert prefs.mask_new_documents is True and prefs.notify_new_documents is False


def test_invitations_then_acting_as_caregiver(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    from carnet.accounts.family import caregivers

    me = make_account(database)
    helped = make_account(database, "jean", first_names="Jean", birth_name="MARTIN")
    with database.transaction() as session:
        caregivers.invite_caregiver(
            session,
            settings,
            Principal(PrincipalKind.HOLDER, helped.id),
            session.get(Holder, helped.id),  # type: ignore[arg-type]
            me.nir,
        )
    doc_id = deposit(database, vault, settings, helped, "Ordonnance")
    log_in(client, database)
    home = client.get("/home")
    assert "Jean MARTIN vous invite à devenir son aidant." in text(home)
    accept = re.search(r'action="(/invitations/[0-9a-f-]+/accept)"', home.text)
    assert accept is not None
    post(client, accept.group(1))
    home = text(client.get("/home"))
    assert "L'invitation a été acceptée." in home
    assert "Jean MARTIN (aidant)" in home
    post(client, "/profile", {"space_id": str(helped.id)})
    page = text(client.get(f"/documents/{doc_id}"))
    assert "Vous agissez comme aidant dans l'espace de" in page
    assert "Masquer aux professionnels</button>" not in page  # REP-4: an access setting
    refused = post(
        client, f"/documents/{doc_id}/mask", {"masked": "1"}, page=f"/documents/{doc_id}"
    )
    assert refused.status_code == 403
    assert "Un aidant ne peut ni fermer l'espace" in text(refused)
    assert "Fermer mon espace" not in text(client.get("/account"))
    # REP-4: nor the closing page, nor its form; both spaces stay active.
    closing = client.get("/account/close")
    assert closing.status_code == 403
    assert "Un aidant ne peut ni fermer l'espace" in text(closing)
    refused = post(client, "/account/close", {"erase": "erase", "confirm": "1"})
    assert refused.status_code == 403
    with database.transaction() as session:
        assert session.get(Holder, helped.id).state == "active"  # type: ignore[union-attr]
        assert session.get(Holder, me.id).state == "active"  # type: ignore[union-attr]
