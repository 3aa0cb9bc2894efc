"""The holder writes first to a pharmacy from the messaging page (SRV-1, issue 16: the page said
so and offered no way to do it), through `messaging.conversations.start` like the API."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.accounts.models import Professional
from carnet.config import Settings
from carnet.db import Database
from carnet.messaging.models import Conversation
from carnet.vault.service import Vault
from tests.factories import make_professional
from tests.portal.support import deposit, log_in, make_account, post


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.text)


def _pharmacies(database: Database) -> tuple[Professional, Professional]:
    with database.transaction() as session:
        return (
            make_professional(session, profession_code="21", name="Pharmacie du Marché"),
            make_professional(session, profession_code="21", name="Pharmacie de la Gare"),
        )


def _conversations(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(Conversation)) or 0


def test_the_holder_writes_first_to_a_pharmacy_that_dispensed(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    dispensing, other = _pharmacies(database)
    # SRV-1 "pharmacies they used": this one deposited a document in the space.
    deposit(database, vault, settings, holder, "Délivrance", author=dispensing)
    log_in(client, database)
    page = text(client.get("/messages"))
    assert "Écrire à une pharmacie" in page
    offered = re.findall(r'<option value="(\d{11})"', page)
    assert offered == [dispensing.rpps]  # only the pharmacy the rule lets the holder write to
    refused = post(
        client,
        "/messages/new",
        {"to": other.rpps, "subject": "Ordonnance", "body": "Est-ce prêt ?"},
        page="/messages",
    )
    assert refused.status_code == 403
    assert "Vous ne pouvez écrire en premier qu'à une pharmacie qui vous a délivré" in text(refused)
    unchosen = post(
        client, "/messages/new", {"to": "", "subject": "Ordonnance", "body": "Bonjour"},
        page="/messages",
    )  # fmt: skip
    assert unchosen.status_code == 400
    assert "Choisissez la pharmacie à laquelle vous écrivez." in text(unchosen)
    assert _conversations(database) == 0
    empty = post(
        client, "/messages/new", {"to": dispensing.rpps, "subject": "", "body": "Bonjour"},
        page="/messages",
    )  # fmt: skip
    assert empty.status_code == 400
    assert "Un objet est obligatoire." in text(empty)
    assert ">Bonjour</textarea>" in empty.text  # kept for a retry
    assert _conversations(database) == 0
    sent = post(
        client,
        "/messages/new",
        {"to": dispensing.rpps, "subject": "Ordonnance", "body": "Est-ce prêt ?"},
        page="/messages",
    )
    assert sent.status_code == 303
    assert re.fullmatch(r"/messages/[0-9a-f-]{36}", sent.headers["location"])
    conversation = text(client.get(sent.headers["location"]))
    assert "Est-ce prêt ?" in conversation and "Votre message a été envoyé." in conversation
    assert "Ordonnance" in text(client.get("/messages"))


def test_without_a_dispensing_pharmacy_the_page_says_so(
    client: TestClient, database: Database
) -> None:
    make_account(database)
    _pharmacies(database)
    log_in(client, database)
    page = text(client.get("/messages"))
    assert "Aucune pharmacie ne vous a encore délivré" in page
    assert 'action="/messages/new"' not in page
