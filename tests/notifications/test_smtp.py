"""Delivery through a real SMTP server: once per message, retried while the server is down."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from carnet import clock
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.notifications.service import DeliveryReport, deliver_pending, enqueue
from tests.notifications.helpers import free_port, smtp_server


def _smtp(settings: Settings, port: int, **extra: object) -> Settings:
    return settings.model_copy(update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{port}"), **extra})


def _enqueue(database: Database, recipient: str = "ana@example.org") -> uuid.UUID:
    with database.transaction() as session:
        message = enqueue(
            session,
            kind="account.notice",
            recipient=recipient,
            subject="Votre espace",
            body_text="Bonjour.",
        )
        return message.id


def _row(database: Database, message_id: uuid.UUID) -> OutboxMessage:
    with database.transaction() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        return row


def test_each_message_reaches_the_server_exactly_once(
    database: Database, settings: Settings
) -> None:
    port = free_port()
    ids = [_enqueue(database, f"person{n}@example.org") for n in range(3)]
    with smtp_server(port) as server:
        assert deliver_pending(database, _smtp(settings, port)) == DeliveryReport(sent=3)
        assert deliver_pending(database, _smtp(settings, port)) == DeliveryReport()

    assert len(server.messages) == 3
    assert {m["Message-ID"] for m in server.messages} == {f"<{i}@carnet>" for i in ids}
    assert {m["From"] for m in server.messages} == {settings.mail_from}
    assert {m["To"] for m in server.messages} == {f"person{n}@example.org" for n in range(3)}
    assert not settings.outbox_dir.exists()  # SMTP set: no .eml files


def test_server_down_then_up_delivers_once_after_the_backoff(
    database: Database, settings: Settings
) -> None:
    port = free_port()
    smtp_settings = _smtp(settings, port)
    message_id = _enqueue(database)

    assert deliver_pending(database, smtp_settings) == DeliveryReport(retried=1)
    row = _row(database, message_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "ConnectionRefusedError")
    assert row.next_attempt_at > clock.now()

    with smtp_server(port) as server:
        # Not due yet: the backoff is respected even though the server is back.
        assert deliver_pending(database, smtp_settings) == DeliveryReport()
        with clock.frozen_at(clock.now() + dt.timedelta(minutes=2)):
            assert deliver_pending(database, smtp_settings) == DeliveryReport(sent=1)
            assert deliver_pending(database, smtp_settings) == DeliveryReport()

    assert [m["Message-ID"] for m in server.messages] == [f"<{message_id}@carnet>"]
    row = _row(database, message_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


def test_unreachable_server_fails_the_whole_run_and_retries_every_message(
    database: Database, settings: Settings
) -> None:
    ids = [_enqueue(database) for _ in range(3)]

    assert deliver_pending(database, _smtp(settings, free_port())) == DeliveryReport(retried=3)

    for message_id in ids:
        row = _row(database, message_id)
        assert (row.status, row.last_error) == ("pending", "ConnectionRefusedError")


def test_message_is_given_up_after_max_attempts(database: Database, settings: Settings) -> None:
    smtp_settings = _smtp(settings, free_port(), outbox_max_attempts=2)
    message_id = _enqueue(database)

    assert deliver_pending(database, smtp_settings) == DeliveryReport(retried=1)
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=2)):
        assert deliver_pending(database, smtp_settings) == DeliveryReport(failed=1)
    with clock.frozen_at(clock.now() + dt.timedelta(days=1)):
        assert deliver_pending(database, smtp_settings) == DeliveryReport()

    row = _row(database, message_id)
    assert (row.status, row.attempts, row.sent_at) == ("failed", 2, None)


def test_refused_recipient_does_not_block_the_next_message(
    database: Database, settings: Settings
) -> None:
    port = free_port()
    refused = _enqueue(database, "gone@example.org")
    accepted = _enqueue(database, "ana@example.org")

    with smtp_server(port, refused=frozenset({"gone@example.org"})) as server:
        report = deliver_pending(database, _smtp(settings, port))

    assert report == DeliveryReport(sent=1, retried=1)
    assert [m["Message-ID"] for m in server.messages] == [f"<{accepted}@carnet>"]
    row = _row(database, refused)
    assert (row.status, row.last_error) == ("pending", "SMTPRecipientsRefused:550")


# AUTH without TLS is what a loopback test server is for.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_credentials_in_the_url_are_used(database: Database, settings: Settings) -> None:
    port = free_port()
    user, password = "carnet mailer", "p@ss:w/rd"
    url = f"smtp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}"
    good = settings.model_copy(update={"smtp_url": SecretStr(url)})
    bad = settings.model_copy(
        update={"smtp_url": SecretStr(f"smtp://{quote(user, safe='')}:wrong@127.0.0.1:{port}")}
    )
    message_id = _enqueue(database)

    with smtp_server(port, credentials=(user, password)) as server:
        assert deliver_pending(database, bad) == DeliveryReport(retried=1)
        assert _row(database, message_id).last_error == "SMTPAuthenticationError:535"
        with clock.frozen_at(clock.now() + dt.timedelta(minutes=2)):
            assert deliver_pending(database, good) == DeliveryReport(sent=1)

    assert len(server.messages) == 1
