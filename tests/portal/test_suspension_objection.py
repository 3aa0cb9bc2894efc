"""The page a suspension notice links to (rule LC-6): the holder, or a minor's representative,
objects without logging in, within 6 weeks; errors are tied to their fields, in French."""

from __future__ import annotations

import datetime as dt
import html

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.accounts import objections, rules
from carnet.accounts.models import Holder, SuspensionObjection
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.accounts.test_objections import notice_code
from tests.factories import make_holder
from tests.portal.support import post

PAGE = "/suspension/objection"


def suspended(
    database: Database, vault: Vault, settings: Settings, on: dt.date
) -> tuple[Holder, str]:
    """A holder suspended on `on` (noon), and the code their suspension notice carried."""
    noon = clock.start_of_day(on, settings.timezone) + dt.timedelta(hours=12)
    with clock.frozen_at(noon), database.transaction() as session:
        holder = make_holder(session, state=rules.ACTIVE, email="paul@example.org")
        objections.suspend_and_tell(session, vault, settings, holder, SYSTEM, "fraud")
        body = session.scalars(
            select(OutboxMessage.body_text).where(OutboxMessage.kind == "account.suspended")
        ).one()
    return holder, notice_code(body)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.text)


def test_lc6_objecting_on_the_page(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder, code = suspended(database, vault, settings, clock.today(settings.timezone))
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "S'opposer à la suspension d'un espace" in text(page)
    form = {"nir": holder.nir, "code": code.lower(), "reason": "care-needs", "note": "Suivi."}
    response = post(client, PAGE, form, page=PAGE)
    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}/recorded"
    done = client.get(response.headers["location"])
    assert "Votre opposition à la suspension est enregistrée." in text(done)
    assert holder.nir not in done.text
    with database.transaction() as session:
        [row] = session.scalars(select(SuspensionObjection)).all()
        assert (row.holder_id, row.reason) == (holder.id, "care-needs")


def test_lc6_errors_are_tied_to_their_fields(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    response = post(client, PAGE, {"nir": "123", "code": ""}, page=PAGE)
    assert response.status_code == 400
    page = text(response)
    assert "Ce numéro de sécurité sociale n'est pas valide" in page
    assert "Choisissez pourquoi vous vous opposez à la suspension." in page
    assert 'href="#reason"' in page and 'id="reason"' in page
    holder, _code = suspended(database, vault, settings, clock.today(settings.timezone))
    wrong = post(
        client, PAGE, {"nir": holder.nir, "code": "ACDE-FGHJ-KMNP", "reason": "other"}, page=PAGE
    )
    assert wrong.status_code == 401
    assert "Le numéro de sécurité sociale ou le code n'est pas correct." in text(wrong)


def test_lc6_after_six_weeks_the_page_says_so(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    today = clock.today(settings.timezone)
    holder, code = suspended(database, vault, settings, today - dt.timedelta(weeks=6))
    response = post(client, PAGE, {"nir": holder.nir, "code": code, "reason": "mistake"}, page=PAGE)
    assert response.status_code == 409
    assert "Le délai de 6 semaines pour s'opposer à cette suspension est dépassé." in text(response)
    with database.transaction() as session:
        assert session.scalars(select(SuspensionObjection)).all() == []


def test_lc6_the_page_is_english_too(client: TestClient) -> None:
    client.get("/lang/en")
    page = client.get(PAGE)
    assert "Object to the suspension of a space" in page.text
