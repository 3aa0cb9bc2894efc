"""The professional side of the portal through its forms: login (RPPS + password + e-mailed
code), CSRF, sessions, the NIR never in a URL, care declaration, deposit, emergency access."""

from __future__ import annotations

import html
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.access.models import CareRelationship, EmergencyGrant
from carnet.accounts.models import Professional
from carnet.accounts.passwords import hash_password
from carnet.db import Database
from tests.documents.helpers import pdf_bytes
from tests.factories import make_professional
from tests.portal.support import PASSWORD, csrf_of, deposit, last_code, make_account

ROUTES = (
    "/pro/find",
    "/pro/patient/declare",
    "/pro/patient/emergency",
    "/pro/patient/deposit",
    "/pro/logout",
)


def make_pro(database: Database, **overrides: Any) -> Professional:
    with database.transaction() as session:
        pro = make_professional(
            session,
            password_hash=hash_password(PASSWORD),
            email="dr@example.org",
            **overrides,
        )
    return pro


def pro_log_in(client: TestClient, database: Database, pro: Professional, **form: str) -> None:
    page = client.get("/pro/login")
    response = client.post(
        "/pro/login",
        data={"csrf_token": csrf_of(page.text), "rpps": pro.rpps, "password": PASSWORD, **form},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/pro/login/code")
    response = client.post(
        "/pro/login/code",
        data={"csrf_token": csrf_of(page.text), "code": last_code(database, pro.email or "")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/pro"


def send(client: TestClient, path: str, data: dict[str, str], **kwargs: Any) -> Any:
    token = csrf_of(client.get("/pro").text)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False, **kwargs)


def test_login_required_and_csrf(client: TestClient, database: Database) -> None:
    for path in ("/pro", "/pro/patient"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/pro/login")
    pro = make_pro(database)
    wrong = client.post(
        "/pro/login",
        data={
            "csrf_token": csrf_of(client.get("/pro/login").text),
            "rpps": pro.rpps,
            "password": "wrong password",
        },
    )
    assert wrong.status_code == 401
    assert "L'identifiant ou le mot de passe" in html.unescape(wrong.text)
    pro_log_in(client, database, pro)
    for path in ROUTES:
        response = client.post(path, data={"csrf_token": "forged"}, follow_redirects=False)
        assert response.status_code == 403, path
    # A holder's session does not open the professional pages, nor the reverse.
    assert client.get("/home", follow_redirects=False).status_code == 303


def test_a_non_regulator_cannot_log_in_as_regulator(client: TestClient, database: Database) -> None:
    pro = make_pro(database)
    page = client.get("/pro/login")
    response = client.post(
        "/pro/login",
        data={
            "csrf_token": csrf_of(page.text),
            "rpps": pro.rpps,
            "password": PASSWORD,
            "regulator": "1",
        },
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "Ce professionnel n'est pas médecin régulateur." in html.unescape(response.text)
    assert client.get("/pro", follow_redirects=False).status_code == 303


def test_find_declare_then_documents_deposit_and_emergency(
    client: TestClient, database: Database, vault: Any, settings: Any
) -> None:
    holder = make_account(database)
    deposit(database, vault, settings, holder, "Bilan sanguin")
    pro = make_pro(database)
    pro_log_in(client, database, pro)
    unknown = send(client, "/pro/find", {"nir": "1" * 15})
    assert unknown.status_code in (400, 404)
    response = send(client, "/pro/find", {"nir": holder.nir})
    assert response.status_code == 303 and response.headers["location"] == "/pro/patient"
    page = client.get("/pro/patient")
    body = html.unescape(page.text)
    assert "DUPONT" in body and holder.nir not in body
    assert "Aucun document que vous pouvez lire." in body  # not in the care team yet
    assert "Bilan sanguin" not in body
    assert "<title>Dossier du patient – Carnet</title>" in body

    response = send(client, "/pro/patient/declare", {})
    assert response.status_code == 303
    body = html.unescape(client.get("/pro/patient").text)
    assert "Bilan sanguin" in body
    assert "Vous êtes maintenant déclaré" in body

    # Deposit: a type is needed; then the PDF is stored.
    files = {"file": ("cr.pdf", pdf_bytes("Compte rendu"), "application/pdf")}
    refused = send(client, "/pro/patient/deposit", {"type_code": ""}, files=files)
    assert refused.status_code == 400
    done = send(
        client, "/pro/patient/deposit", {"type_code": "11502-2", "title": "CR"}, files=files
    )
    assert done.status_code == 303
    assert ">CR<" in client.get("/pro/patient").text

    # Emergency: a reason is needed; then the banner shows the mode and the end.
    assert send(client, "/pro/patient/emergency", {"reason": " "}).status_code == 400
    assert send(client, "/pro/patient/emergency", {"reason": "Inconscient"}).status_code == 303
    body = html.unescape(client.get("/pro/patient").text)
    assert "Mode d'accès : Urgence" in body
    with database.transaction() as session:
        assert session.scalars(select(EmergencyGrant)).first() is not None

    # The NIR never travels in a URL.
    history = [r.url for r in (client.get("/pro"), client.get("/pro/patient"))]
    assert all(holder.nir not in str(url) for url in history)

    response = send(client, "/pro/logout", {})
    assert response.headers["location"].startswith("/pro/login")
    assert client.get("/pro/patient", follow_redirects=False).status_code == 303


def test_acc5_regulator_reads_in_regulation_mode_unless_the_holder_opposed(
    client: TestClient, database: Database, vault: Any, settings: Any
) -> None:
    """The emergency-call regulator logs in as such, opens regulation access with a reason and
    reads with the Régulation banner; a holder who switched regulator access off is refused."""
    from carnet.access.models import EmergencySettings

    holder = make_account(database)
    deposit(database, vault, settings, holder, "Bilan sanguin")
    regulator = make_pro(database, is_regulator=True)
    pro_log_in(client, database, regulator, regulator="1")
    assert send(client, "/pro/find", {"nir": holder.nir}).status_code == 303
    body = html.unescape(client.get("/pro/patient").text)
    assert "Bilan sanguin" not in body  # nothing before the regulation access
    assert send(client, "/pro/patient/emergency", {"reason": "Appel au 15"}).status_code == 303
    body = html.unescape(client.get("/pro/patient").text)
    assert "Mode d'accès : Régulation" in body
    assert "Bilan sanguin" in body
    with database.transaction() as session:
        grant = session.scalars(select(EmergencyGrant)).one()
        assert grant.mode == "regulation"
    other = make_account(database, username="paul")
    with database.transaction() as session:
        session.add(EmergencySettings(holder_id=other.id, regulator=False))
    assert send(client, "/pro/find", {"nir": other.nir}).status_code == 303
    refused = send(client, "/pro/patient/emergency", {"reason": "Appel au 15"})
    assert refused.status_code == 403
    with database.transaction() as session:
        assert len(session.scalars(select(EmergencyGrant)).all()) == 1


def test_acc4_ticking_i_am_the_gp_is_a_proposal_the_page_says_so(
    client: TestClient, database: Database
) -> None:
    """ACC-4: the professional's "I am this patient's GP" changes nothing by itself; the page says
    that the patient confirms it."""
    holder = make_account(database)
    pro = make_pro(database)
    pro_log_in(client, database, pro)
    assert send(client, "/pro/find", {"nir": holder.nir}).status_code == 303
    page = html.unescape(client.get("/pro/patient").text)
    assert "Le patient le confirme dans Carnet" in page
    assert send(client, "/pro/patient/declare", {"as_gp": "1"}).status_code == 303
    body = html.unescape(client.get("/pro/patient").text)
    assert "ne prend effet qu'une fois confirmée par le patient" in body
    with database.transaction() as session:
        rel = session.scalars(select(CareRelationship)).one()
        assert (rel.status, rel.is_gp, rel.gp_proposed_at is not None) == ("declared", False, True)


def test_acc3_a_blocked_professional_is_never_told_in_the_portal(
    client: TestClient, database: Database
) -> None:
    """ACC-3 (Carnet decision), ACC-5: in the professional's pages, a block shows nowhere — the
    declaration says what it says to anyone, the emergency access is refused as an opposed one."""
    from carnet.access.models import CareRelationship

    holder = make_account(database)
    pro = make_pro(database)
    with database.transaction() as session:
        session.add(CareRelationship(holder_id=holder.id, professional_id=pro.id, status="blocked"))
    pro_log_in(client, database, pro)
    assert send(client, "/pro/find", {"nir": holder.nir}).status_code == 303
    assert send(client, "/pro/patient/declare", {}).status_code == 303
    body = html.unescape(client.get("/pro/patient").text)
    assert "Vous êtes maintenant déclaré" in body and "bloqué" not in body
    refused = send(client, "/pro/patient/emergency", {"reason": "Patient inconscient"})
    assert refused.status_code == 403
    assert "bloqué" not in html.unescape(refused.text)
    with database.transaction() as session:
        assert session.scalars(select(EmergencyGrant)).all() == []


def test_acc3_acc4_a_blocked_physicians_gp_proposal_reads_as_anyones(
    client: TestClient, database: Database
) -> None:
    """ACC-3, ACC-4: ticking "I am the GP" while blocked shows the same page as for anyone, and
    proposes nothing."""
    from carnet.access.models import CareRelationship

    holder = make_account(database)
    pro = make_pro(database)
    with database.transaction() as session:
        session.add(CareRelationship(holder_id=holder.id, professional_id=pro.id, status="blocked"))
    pro_log_in(client, database, pro)
    assert send(client, "/pro/find", {"nir": holder.nir}).status_code == 303
    assert send(client, "/pro/patient/declare", {"as_gp": "1"}).status_code == 303
    body = html.unescape(client.get("/pro/patient").text)
    assert "ne prend effet qu'une fois confirmée par le patient" in body
    with database.transaction() as session:
        rel = session.scalars(select(CareRelationship)).one()
        assert (rel.status, rel.is_gp, rel.gp_proposed_at) == ("blocked", False, None)
