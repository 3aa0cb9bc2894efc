"""Transactional mail leaves at once: a login code or a requested provisional code goes to the
transport right after the commit of the request that queued it, with no jobs run; the outbox
stays its retry path when the mail server is down (LC-4, ACC-8's login)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from carnet import clock
from carnet.app import create_app
from carnet.config import Settings
from carnet.db import Database, committed_tasks
from carnet.notifications.models import OutboxMessage
from carnet.notifications.service import DeliveryReport, deliver_pending, enqueue
from carnet.vault.service import Vault
from tests.accounts.test_api_lifecycle import notified_holder
from tests.auth.test_login import PASSWORD, active_holder
from tests.notifications.helpers import free_port, smtp_server
from tests.notifications.support import eml_text
from tests.portal.support import PASSWORD as PORTAL_PASSWORD
from tests.portal.support import csrf_of
from tests.portal.test_pro_pages import make_pro

_OTP = re.compile(r"\b(\d{6})\b")


@contextmanager
def _client(settings: Settings, database: Database, vault: Vault) -> Iterator[TestClient]:
    app = create_app(settings, database)
    app.state.vault = vault
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _smtp(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{port}")})


def _rows(database: Database, kind: str) -> list[OutboxMessage]:
    with database.transaction() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_login_code_reaches_the_smtp_server_with_no_jobs_run(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """The API login's code is at the SMTP server when the answer says it was sent; it logs in."""
    active_holder(database)
    port = free_port()
    with smtp_server(port) as server, _client(_smtp(settings, port), database, vault) as client:
        started = client.post("/api/v1/session", json={"username": "bob", "password": PASSWORD})
        assert started.status_code == 200, started.text
        assert [m["To"] for m in server.messages] == ["bob@example.org"]
        code = _OTP.search(server.messages[0].get_content())
        assert code is not None
        verified = client.post(
            "/api/v1/session/verify",
            json={"challenge": started.json()["challenge"], "code": code.group(1)},
        )
        assert verified.status_code == 200, verified.text
    [row] = _rows(database, "auth.login-code")
    assert (row.status, row.attempts, row.body_text) == ("sent", 1, "")
    assert server.messages[0]["Message-ID"] == f"<{row.id}@carnet>"


def test_professional_portal_login_code_reaches_the_smtp_server_with_no_jobs_run(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """The professional's code, asked for through the portal form, is delivered at once too."""
    pro = make_pro(database)
    port = free_port()
    with smtp_server(port) as server, _client(_smtp(settings, port), database, vault) as client:
        page = client.get("/pro/login")
        response = client.post(
            "/pro/login",
            data={
                "csrf_token": csrf_of(page.text),
                "rpps": pro.rpps,
                "password": PORTAL_PASSWORD,
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        assert [m["To"] for m in server.messages] == ["dr@example.org"]
        assert _OTP.search(server.messages[0].get_content()) is not None


def test_requested_provisional_code_reaches_the_smtp_server_with_no_jobs_run(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-4: a renewal asked for on the page goes out at once (it activates the space)."""
    person = notified_holder(database, vault, settings, email="marie@example.org")
    port = free_port()
    with smtp_server(port) as server, _client(_smtp(settings, port), database, vault) as client:
        assert client.post("/api/v1/renewal", json={"nir": person.nir}).status_code == 202
    assert [m["To"] for m in server.messages] == ["marie@example.org"]
    assert "Code provisoire" in server.messages[0].get_content()


def test_without_smtp_the_login_code_is_written_as_eml_at_once(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """The same hand-over with the development transport: the `.eml` is there, no jobs run."""
    active_holder(database)
    with _client(settings, database, vault) as client:
        started = client.post("/api/v1/session", json={"username": "bob", "password": PASSWORD})
        assert started.status_code == 200, started.text
    [row] = _rows(database, "auth.login-code")
    assert row.status == "sent"
    assert _OTP.search(eml_text((settings.outbox_dir / f"{row.id}.eml").read_bytes()))


def test_login_code_stays_in_the_outbox_while_smtp_is_down_and_the_retry_path_sends_it(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """A failed hand-over changes nothing for the person's request; the row waits with backoff
    and the outbox's next run after it delivers the code once."""
    active_holder(database)
    port = free_port()
    smtp_settings = _smtp(settings, port)
    with _client(smtp_settings, database, vault) as client:
        started = client.post("/api/v1/session", json={"username": "bob", "password": PASSWORD})
        assert started.status_code == 200, started.text
    [row] = _rows(database, "auth.login-code")
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "ConnectionRefusedError")
    assert row.next_attempt_at > clock.now()
    assert _OTP.search(row.body_text)  # still there, for the retry
    with smtp_server(port) as server, clock.frozen_at(clock.now() + dt.timedelta(minutes=2)):
        assert deliver_pending(database, smtp_settings) == DeliveryReport(sent=1)
    assert [m["Message-ID"] for m in server.messages] == [f"<{row.id}@carnet>"]
    assert _OTP.search(server.messages[0].get_content())


def test_a_rolled_back_transaction_hands_nothing_to_the_transport(database: Database) -> None:
    """The mail exists only if its event committed: a rollback drops the hand-over too."""
    session = database.sessionmaker()
    try:
        enqueue(
            session,
            kind="auth.login-code",
            recipient="bob@example.org",
            subject="Code",
            body_text="123456",
            transactional=True,
        )
        session.flush()
        session.rollback()
        assert committed_tasks(session) == []
        enqueue(
            session,
            kind="auth.login-code",
            recipient="bob@example.org",
            subject="Code",
            body_text="654321",
            transactional=True,
        )
        session.commit()
        assert len(committed_tasks(session)) == 1
        assert committed_tasks(session) == []  # handed over once
    finally:
        session.close()


def test_other_mail_waits_for_the_jobs_loop(database: Database) -> None:
    """Notices nobody waits for on a page keep the outbox's pace (one jobs interval)."""
    session = database.sessionmaker()
    try:
        enqueue(
            session,
            kind="document.new",
            recipient="bob@example.org",
            subject="Nouveau document",
            body_text="Un document.",
        )
        session.commit()
        assert committed_tasks(session) == []
    finally:
        session.close()
    [row] = _rows(database, "document.new")
    assert row.status == "pending"
