"""My professionals and the access history (ACC-3, ACC-4, ACC-6, ACC-8) through the portal's
forms: the same services as the API decide, the pages say it in the person's language."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.access import care_team
from carnet.access import emergency as access_emergency
from carnet.access.models import AccessReport, CareRelationship
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import service as documents
from carnet.vault.service import Vault
from tests.factories import make_professional
from tests.portal.support import (
    deposit,
    emergency_access_to_new_account,
    log_in,
    make_account,
    make_child,
    make_professional_in_care,
    post,
)

ROUTES = (
    "/professionals/authorise",
    "/professionals/status",
    "/professionals/administrator",
    "/professionals/emergency",
    "/professionals/gp",
    "/history/report",
)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.text)


def _status(database: Database, holder: Holder, pro_id: object) -> str | None:
    with database.transaction() as session:
        rel = session.scalars(
            select(CareRelationship).where(
                CareRelationship.holder_id == holder.id,
                CareRelationship.professional_id == pro_id,
            )
        ).first()
        return rel.status if rel else None


def _seen(database: Database, settings: Settings, holder: Holder, pro_id: object) -> int:
    with database.transaction() as session:
        total, _rows = documents.search(
            session,
            settings,
            Principal(PrincipalKind.PROFESSIONAL, pro_id),  # type: ignore[arg-type]
            session.get(Holder, holder.id),  # type: ignore[arg-type]
            documents.SearchQuery(),
        )
        return total


def test_pages_need_a_session_and_forms_need_the_token(
    client: TestClient, database: Database
) -> None:
    for path in ("/professionals", "/history"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
    make_account(database)
    log_in(client, database)
    for path in ROUTES:
        response = client.post(path, data={"csrf_token": "forged"}, follow_redirects=False)
        assert response.status_code == 403, path
    home = client.get("/home")
    assert 'href="/professionals"' in home.text and 'href="/history"' in home.text


def test_block_unblock_administrator_and_authorise(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    pro = make_professional_in_care(database, holder)
    doc_id = deposit(database, vault, settings, holder, author=None)
    assert _seen(database, settings, holder, pro.id) == 1
    log_in(client, database)
    page = client.get("/professionals")
    assert page.status_code == 200
    body = text(page)
    assert pro.name in body and "Autorisé" in body
    assert "Ce professionnel fait partie de votre équipe de soins." in body
    assert "<title>Mes professionnels – Carnet</title>" in body

    response = post(
        client,
        "/professionals/administrator",
        {"rpps": pro.rpps, "administrator": "1"},
        page="/professionals",
    )
    assert response.status_code == 303
    assert "Administrateur" in text(client.get("/professionals"))

    for _ in range(2):  # a double submission changes nothing more
        response = post(
            client,
            "/professionals/status",
            {"rpps": pro.rpps, "status": "blocked"},
            page="/professionals",
        )
        assert response.status_code == 303
    assert _status(database, holder, pro.id) == "blocked"
    assert _seen(database, settings, holder, pro.id) == 0
    assert doc_id

    response = post(
        client,
        "/professionals/status",
        {"rpps": pro.rpps, "status": "unblocked"},
        page="/professionals",
    )
    assert response.status_code == 303
    assert _status(database, holder, pro.id) == "none"

    # Authorise by RPPS: a wrong number is told next to the field.
    response = post(client, "/professionals/authorise", {"rpps": "123"}, page="/professionals")
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.text
    assert "Saisissez un numéro RPPS de 11 chiffres." in text(response)
    response = post(client, "/professionals/authorise", {"rpps": pro.rpps}, page="/professionals")
    assert response.status_code == 303
    assert _status(database, holder, pro.id) == "authorised"


def test_emergency_switches(client: TestClient, database: Database, settings: Settings) -> None:
    holder = make_account(database)
    log_in(client, database)
    response = post(client, "/professionals/emergency", {"regulator": "1"}, page="/professionals")
    assert response.status_code == 303
    with database.transaction() as session:
        facts = access_emergency.emergency_settings(
            session,
            settings,
            Principal(PrincipalKind.HOLDER, holder.id),
            session.get(Holder, holder.id),
        )
        assert facts.regulator_allowed and not facts.emergency_allowed
        assert not facts.masked_in_emergency
    page = text(client.get("/professionals"))
    assert re.search(r'id="emergency-allowed" name="emergency" value="1">', page)
    assert re.search(r'id="regulator-allowed" name="regulator" value="1" checked>', page)


def test_history_filters_and_report(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, pro = emergency_access_to_new_account(database, vault, settings)
    log_in(client, database)
    page = client.get("/history?mode=emergency")
    assert page.status_code == 200
    body = text(page)
    assert "<title>Historique – Carnet</title>" in body
    assert "Urgence" in body and pro.rpps in body
    assert client.get(f"/history?actor={pro.rpps}").status_code == 200
    bad = client.get("/history?actor=12&from=2024-13-01")
    assert bad.status_code == 400
    assert "Saisissez un numéro RPPS de 11 chiffres, ou laissez le champ vide." in text(bad)
    entry_id = re.search(r'name="entry_id" value="([0-9a-f-]{36})"', page.text)
    assert entry_id is not None
    response = post(
        client,
        "/history/report",
        {"entry_id": entry_id.group(1), "note": "Je ne connais pas"},
        page="/history",
    )
    assert response.status_code == 303
    with database.transaction() as session:
        assert session.scalars(select(AccessReport)).one().holder_id == holder.id
    assert "Signalé" in text(client.get("/history"))
    missing = post(client, "/history/report", {"entry_id": "not-an-id"}, page="/history")
    assert missing.status_code == 404


def test_a_parent_sees_the_child_professionals(client: TestClient, database: Database) -> None:
    parent = make_account(database)
    child = make_child(database, parent)
    with database.transaction() as session:
        pro = make_professional(session)
        session.add(
            CareRelationship(holder_id=child.id, professional_id=pro.id, status="authorised")
        )
    log_in(client, database)
    assert pro.name not in text(client.get("/professionals"))
    post(client, "/profile", {"space_id": str(child.id), "next": "/professionals"})
    assert pro.name in text(client.get("/professionals"))
    assert client.get("/history").status_code == 200


def _propose_gp(database: Database, settings: Settings, holder: Holder, pro_id: object) -> None:
    """A physician ticks "I am this patient's GP" (ACC-4)."""
    with database.transaction() as session:
        care_team.declare(
            session,
            settings,
            Principal(PrincipalKind.PROFESSIONAL, pro_id),  # type: ignore[arg-type]
            holder.nir,
            as_gp=True,
        )


def _is_gp(database: Database, holder: Holder, pro_id: object) -> bool:
    with database.transaction() as session:
        rel = session.scalars(
            select(CareRelationship).where(
                CareRelationship.holder_id == holder.id,
                CareRelationship.professional_id == pro_id,
            )
        ).one()
        return rel.is_gp


def test_acc4_the_holder_confirms_or_declines_a_gp_proposal(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """ACC-4: a physician's GP declaration waits in "Mes professionnels" until the holder
    confirms it; declining leaves the GP unchanged; a second submission finds nothing pending."""
    holder = make_account(database)
    with database.transaction() as session:
        first = make_professional(session, name="Dr Premier")
        second = make_professional(session, name="Dr Second")
    _propose_gp(database, settings, holder, first.id)
    _propose_gp(database, settings, holder, second.id)
    assert not _is_gp(database, holder, first.id)
    log_in(client, database)
    body = text(client.get("/professionals"))
    assert "Propositions de médecin traitant en attente de votre réponse" in body
    assert "Confirmer Dr Premier comme médecin traitant" in body

    response = post(
        client,
        "/professionals/gp",
        {"rpps": first.rpps, "answer": "confirm"},
        page="/professionals",
    )
    assert response.status_code == 303
    assert _is_gp(database, holder, first.id)
    body = text(client.get("/professionals"))
    assert "Ce médecin est désormais votre médecin traitant." in body
    assert "Confirmer Dr Premier" not in body

    response = post(
        client,
        "/professionals/gp",
        {"rpps": second.rpps, "answer": "decline"},
        page="/professionals",
    )
    assert response.status_code == 303
    assert not _is_gp(database, holder, second.id) and _is_gp(database, holder, first.id)
    assert "Propositions de médecin traitant" not in text(client.get("/professionals"))
    again = post(
        client,
        "/professionals/gp",
        {"rpps": second.rpps, "answer": "confirm"},
        page="/professionals",
    )
    assert again.status_code == 404
    assert "aucune proposition de médecin traitant en attente" in text(again)
    assert not _is_gp(database, holder, second.id)
    history = text(client.get("/history"))
    assert "A répondu à une proposition de médecin traitant" in history
