"""The e-mails a space switches off in "Mon compte" are not sent where they are queued: a new
message (SRV-1), an appointment reminder (SRV-2), a professional's first access (ACC-8). The
other parties are still told, the access history still shows the access, and notices about the
account's security or an emergency access (ACC-6) are never switchable."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.agenda.models import Reminder
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.access.test_care_api import declare, new_pro, new_space, readable
from tests.access.test_emergency import REASON, break_glass
from tests.agenda.support import API, PARIS, body
from tests.documents.samples import family
from tests.messaging.support import start, world
from tests.profile.support import bearer


def switch_off(database: Database, holder_id: object, topic: str) -> None:
    with database.transaction() as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        account_service.set_notification_preferences(
            session, holder, Principal(PrincipalKind.HOLDER, holder.id), {topic: False}
        )


def outbox(database: Database, kind: str) -> list[str]:
    with database.transaction() as session:
        return list(
            session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.kind == kind))
        )


def test_no_row_means_every_notice_on_and_security_notices_have_no_switch(
    database: Database,
) -> None:
    space = new_space(database)
    with database.transaction() as session:
        for topic in account_service.NOTICE_TOPICS:
            assert account_service.wants_notice(session, space.id, topic)
        for topic in ("login-code", "password-changed", "emergency", "documents"):
            with pytest.raises(ValueError):
                account_service.wants_notice(session, space.id, topic)


def test_srv1_messages_switched_off_tell_the_holder_nothing_but_still_the_professional(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    w = world(database, vault, settings)
    switch_off(database, w.holder_id, "messages")
    cid = start(client, w).json()["id"]
    assert outbox(database, "message.new") == []
    client.post(f"/api/v1/me/conversations/{cid}/messages", headers=w.holder, json={"body": "Ok"})
    assert outbox(database, "message.new") == ["gp@example.org"]
    with database.transaction() as session:
        [saved] = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "account.notification-preferences")
        ).all()
    assert saved == "messages=False,appointments=True,accesses=True"


def test_srv2_reminders_switched_off_are_skipped(
    client: TestClient, database: Database, settings: Settings, run_cli
) -> None:  # type: ignore[no-untyped-def]
    people = family(database)
    switch_off(database, people.parent.id, "appointments")
    me = bearer(database, Principal(PrincipalKind.HOLDER, people.parent.id))
    created = client.post(f"{API}/me/agenda/appointments", json=body(3), headers=me)
    assert created.status_code == 201, created.text
    day = clock.now().astimezone(PARIS).date() + dt.timedelta(days=2)
    status, _out, err = run_cli("jobs", "run", "--as-of", day.isoformat())
    assert status == 0, err
    assert outbox(database, "agenda.reminder") == []
    with database.transaction() as session:
        assert session.scalars(select(Reminder.status)).all() == ["skipped"]


def test_acc8_first_access_notices_switched_off_but_emergencies_always_told(
    client: TestClient, database: Database, settings: Settings
) -> None:
    space = new_space(database, email="titulaire@example.org")
    switch_off(database, space.id, "accesses")
    physician = new_pro(database)
    assert declare(client, physician, space.nir).status_code == 202
    readable(database, settings, physician, space.id)
    assert outbox(database, "access.first") == []
    emergency = new_pro(database)
    assert break_glass(client, emergency, space.nir, REASON).status_code == 201
    assert outbox(database, "access.emergency") == ["titulaire@example.org"]
