"""The access history as a holder reads it (ACC-8, issue 16): every action in plain words in both
languages, one line a page view, "report" only on someone else's access, unknown filters refused;
professions in the page's language."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.factories import make_professional
from tests.portal.support import (
    deposit,
    emergency_access_to_new_account,
    log_in,
    make_account,
    post,
)

ENGLISH = {"Accept-Language": "en"}
RAW_CODE = re.compile(r"\b(agenda|profile|message|document|timeline|auth|care)\.[a-z-]+\b")


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.text)


def _history_table(page: str) -> str:
    found = re.search(r'<table class="history">.*?</table>', page, re.S)
    assert found is not None, "no history table"
    return found.group(0)


def test_opening_the_agenda_is_one_line_in_words_while_each_read_stays_audited(
    client: TestClient, database: Database
) -> None:
    holder = make_account(database)
    log_in(client, database)
    with database.transaction() as session:
        before = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.holder_id == holder.id)
        )
    assert client.get("/agenda").status_code == 200
    with database.transaction() as session:
        recorded = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.holder_id == holder.id)
            .order_by(AuditEntry.seq)
            .offset(before)
        ).all()
    # The decision point audits each read of the page: the appointments, the vaccinations the
    # prevention calendar is computed from, the calendar itself.
    assert set(recorded) == {"agenda.read", "profile.read", "agenda.prevention"}
    table = _history_table(text(client.get("/history")))
    rows = re.findall(r"<tr class=\"mode-[a-z]+\">.*?</tr>", table, re.S)
    agenda_rows = [row for row in rows if "l'agenda" in row]
    assert len(agenda_rows) == 1
    for words in (
        "A consulté l'agenda",
        "A consulté le profil médical",
        "A consulté le calendrier de prévention",
    ):
        assert words in agenda_rows[0]
    assert RAW_CODE.search(table) is None
    english = _history_table(text(client.get("/history", headers=ENGLISH)))
    assert "Read the agenda" in english and "Read the prevention calendar" in english
    assert RAW_CODE.search(english) is None


def test_only_someone_elses_access_may_be_reported(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, pro = emergency_access_to_new_account(database, vault, settings)
    log_in(client, database)
    client.get("/agenda")
    page = text(client.get("/history"))
    forms = re.findall(r'name="entry_id" value="([0-9a-f-]{36})"', page)
    with database.transaction() as session:
        actors = {
            str(row.id): row.actor_id
            for row in session.scalars(select(AuditEntry).where(AuditEntry.holder_id == holder.id))
        }
    assert forms, "the professional's access may be reported"
    assert {actors[entry] for entry in forms} == {str(pro.id)}
    own = next(entry for entry, actor in actors.items() if actor == str(holder.id))
    refused = post(client, "/history/report", {"entry_id": own}, page="/history")
    assert refused.status_code == 400
    assert "Signalé" not in text(client.get("/history"))


def test_unknown_filters_are_refused_in_words(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    page = client.get("/history?rpps=10000000001")
    assert page.status_code == 400
    assert "Filtre inconnu : rpps. Utilisez les filtres du formulaire." in text(page)
    assert '<table class="history">' not in page.text  # nothing that looks filtered and is not
    english = client.get("/history?rpps=10000000001", headers=ENGLISH)
    assert "Unknown filter: rpps. Use the form's filters." in text(english)
    mode = client.get("/history?mode=secret")
    assert mode.status_code == 400
    assert "Choisissez un mode dans la liste." in text(mode)
    assert client.get("/history?mode=emergency&page=1").status_code == 200


def test_professions_are_said_in_the_pages_language(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    _holder, pro = emergency_access_to_new_account(database, vault, settings)
    log_in(client, database)
    for path in ("/professionals", "/history"):
        english = text(client.get(path, headers=ENGLISH))
        assert f"{pro.name}" in english and "Physician" in english
        assert "Médecin" not in english
        assert "Médecin" in text(client.get(path))


def test_a_documents_author_profession_in_the_pages_language(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    with database.transaction() as session:
        dentist = make_professional(session, profession_code="40", name="Dr Sourire")
    deposit(database, vault, settings, holder, "Panoramique", author=dentist)
    log_in(client, database)
    assert "Dr Sourire (Chirurgien-dentiste)" in text(client.get("/documents"))
    assert "Dr Sourire (Dental surgeon)" in text(client.get("/documents", headers=ENGLISH))
