"""The outbox without a mail server: mails become .eml files, exactly when their event commits."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput
from carnet.notifications import service
from carnet.notifications.models import OutboxMessage
from carnet.notifications.service import DeliveryReport, deliver_pending, enqueue

RECIPIENT = "ana.martin@example.org"
SUBJECT = "Votre espace santé est prêt"
BODY = "Bonjour,\nvotre espace est ouvert.\n"


def _enqueue(database: Database, **overrides: object) -> uuid.UUID:
    values: dict[str, object] = {
        "kind": "account.notice",
        "recipient": RECIPIENT,
        "subject": SUBJECT,
        "body_text": BODY,
    }
    values.update(overrides)
    with database.transaction() as session:
        return enqueue(session, **values).id  # type: ignore[arg-type]


def _row(database: Database, message_id: uuid.UUID) -> OutboxMessage:
    with database.transaction() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        return row


def test_committed_mail_is_written_as_eml_file(database: Database, settings: Settings) -> None:
    message_id = _enqueue(database)

    report = deliver_pending(database, settings)

    assert report == DeliveryReport(sent=1, failed=0, retried=0)
    path = settings.outbox_dir / f"{message_id}.eml"
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Message-ID"] == f"<{message_id}@carnet>"
    assert mail["Subject"] == SUBJECT
    assert mail["To"] == RECIPIENT
    assert mail["From"] == settings.mail_from
    assert mail.get_content().replace("\r\n", "\n") == BODY
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in settings.outbox_dir.iterdir()] == [path.name]  # no temp file left
    row = _row(database, message_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None


def test_second_delivery_sends_nothing_more(database: Database, settings: Settings) -> None:
    _enqueue(database)
    assert deliver_pending(database, settings).sent == 1

    assert deliver_pending(database, settings) == DeliveryReport()


def test_rolled_back_event_sends_no_mail(database: Database, settings: Settings) -> None:
    with pytest.raises(RuntimeError), database.transaction() as session:
        enqueue(
            session, kind="account.notice", recipient=RECIPIENT, subject=SUBJECT, body_text=BODY
        )
        raise RuntimeError("the event failed")

    assert deliver_pending(database, settings) == DeliveryReport()
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert not settings.outbox_dir.exists() or not any(settings.outbox_dir.iterdir())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recipient", "not-an-address"),
        ("recipient", "ana@example.org\nBcc: eve@example.org"),
        ("subject", "two\nlines"),
        ("subject", "x" * 201),
        ("subject", ""),
        ("kind", ""),
    ],
)
def test_enqueue_rejects_what_cannot_be_sent(session: Session, field: str, value: str) -> None:
    values = {"kind": "account.notice", "recipient": RECIPIENT, "subject": SUBJECT}
    values[field] = value
    with pytest.raises(InvalidInput) as raised:
        enqueue(
            session,
            kind=values["kind"],
            recipient=values["recipient"],
            subject=values["subject"],
            body_text=BODY,
        )
    assert raised.value.field == field
    assert "example.org" not in raised.value.message


def test_delete_for_holder_removes_only_that_holders_mails(
    database: Database, settings: Settings
) -> None:
    holder, other = uuid.uuid4(), uuid.uuid4()
    first = _enqueue(database, holder_id=holder)
    deliver_pending(database, settings)
    _enqueue(database, holder_id=holder)
    kept = _enqueue(database, holder_id=other, recipient="someone.else@example.org")

    with database.transaction() as session:
        assert service.delete_for_holder(session, settings, holder) == 2

    with database.transaction() as session:
        remaining = session.scalars(select(OutboxMessage.id)).all()
    assert remaining == [kept]
    assert _row_missing(database, first)


def test_purge_removes_delivered_eml_files_and_mail_to_the_holders_address(
    database: Database, settings: Settings
) -> None:
    """LC-8: the `.eml` copies of a purged holder's mail go with their rows, and so does mail
    about someone else already sent to the holder's address (a representative's, about a minor);
    mail still to send about someone else to a shared address is kept."""
    holder, minor, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    own = _enqueue(database, holder_id=holder)
    as_representative = _enqueue(database, holder_id=minor)  # to RECIPIENT, the holder's address
    kept = _enqueue(database, holder_id=other, recipient="someone.else@example.org")
    assert deliver_pending(database, settings) == DeliveryReport(sent=3)
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 3
    # Queued for a family member sharing the address: it must still leave.
    shared = _enqueue(database, holder_id=other)

    with database.transaction() as session:
        removed = service.delete_for_holder(session, settings, holder, addresses=[RECIPIENT])
    assert removed == 2

    assert sorted(p.name for p in settings.outbox_dir.iterdir()) == [f"{kept}.eml"]
    assert _row_missing(database, own) and _row_missing(database, as_representative)
    assert _row(database, shared).status == "pending"


def test_mail_purged_while_being_sent_leaves_no_eml(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LC-8: a purge that deletes a message between its claim and its sending does not leave
    the file the transport has just written."""
    holder = uuid.uuid4()
    message_id = _enqueue(database, holder_id=holder)
    real_send = service._FileTransport.send

    def send_then_purge(self: service._FileTransport, mid: uuid.UUID, message: object) -> None:
        real_send(self, mid, message)  # type: ignore[arg-type]
        with database.transaction() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.id == mid))

    monkeypatch.setattr(service._FileTransport, "send", send_then_purge)
    assert deliver_pending(database, settings) == DeliveryReport(sent=1)
    assert not (settings.outbox_dir / f"{message_id}.eml").exists()


def test_a_message_given_up_keeps_no_body(database: Database, settings: Settings) -> None:
    """A mail that will never be sent (attempts exhausted) keeps no code readable in its row."""
    message_id = _enqueue(database)
    with database.transaction() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        row.attempts = settings.outbox_max_attempts - 1
    broken = settings.model_copy(update={"data_dir": settings.data_dir / "missing" / "x"})
    (settings.data_dir / "missing").write_text("a file where the outbox folder should be")
    assert deliver_pending(database, broken) == DeliveryReport(failed=1)
    row = _row(database, message_id)
    assert (row.status, row.body_text) == ("failed", "")


def _row_missing(database: Database, message_id: uuid.UUID) -> bool:
    with database.transaction() as session:
        return session.get(OutboxMessage, message_id) is None


def test_message_left_sending_by_a_crash_is_sent_after_its_lease(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = _enqueue(database)
    with monkeypatch.context() as patch:
        patch.setattr(service._FileTransport, "send", _crash)
        with pytest.raises(SystemExit):
            deliver_pending(database, settings)
    assert _row(database, message_id).status == "sending"

    # Within the lease the message belongs to the (presumed) running sender.
    assert deliver_pending(database, settings) == DeliveryReport()
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=11)):
        assert deliver_pending(database, settings).sent == 1

    row = _row(database, message_id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert (settings.outbox_dir / f"{message_id}.eml").exists()


def test_message_whose_last_attempt_crashed_is_given_up(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_attempt = settings.model_copy(update={"outbox_max_attempts": 1})
    message_id = _enqueue(database)
    with monkeypatch.context() as patch:
        patch.setattr(service._FileTransport, "send", _crash)
        with pytest.raises(SystemExit):
            deliver_pending(database, one_attempt)

    with clock.frozen_at(clock.now() + dt.timedelta(minutes=11)):
        assert deliver_pending(database, one_attempt) == DeliveryReport(failed=1)
        assert deliver_pending(database, one_attempt) == DeliveryReport()

    row = _row(database, message_id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "SenderLeaseExpired")
    assert not (settings.outbox_dir / f"{message_id}.eml").exists()


def test_failed_write_is_retried_later(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = _enqueue(database)
    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", _raise_permission_error)
        assert deliver_pending(database, settings) == DeliveryReport(retried=1)
    row = _row(database, message_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "PermissionError")
    assert row.next_attempt_at > clock.now()

    with clock.frozen_at(row.next_attempt_at):
        assert deliver_pending(database, settings).sent == 1


def _crash(*_args: object) -> None:
    raise SystemExit("worker killed")


def _raise_permission_error(*_args: object, **_kwargs: object) -> None:
    raise PermissionError("read-only file system")


def test_concurrent_deliveries_send_each_message_once(
    database: Database, settings: Settings
) -> None:
    ids = {_enqueue(database, subject=f"notice {n}") for n in range(20)}
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            reports.append(deliver_pending(database, settings, limit=10))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(report.sent for report in reports) == 20
    assert {p.stem for p in settings.outbox_dir.glob("*.eml")} == {str(i) for i in ids}


def test_logs_name_ids_never_addresses_or_contents(
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    message_id = _enqueue(database)
    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", _raise_permission_error)
        deliver_pending(database, settings)
    with clock.frozen_at(clock.now() + dt.timedelta(hours=1)):
        deliver_pending(database, settings)

    records = [r for r in caplog.records if r.name == "carnet.notifications"]
    assert {r.getMessage() for r in records} >= {
        "outbox message delivery failed; will retry",
        "outbox message sent",
    }
    assert all(getattr(r, "outbox_id", None) == str(message_id) for r in records)
    dumped = " ".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    for secret in (RECIPIENT, SUBJECT, "votre espace"):
        assert secret not in dumped


def test_sent_messages_keep_no_body(database, settings) -> None:  # type: ignore[no-untyped-def]
    """Notices carry provisional and one-time codes: once delivered, the body is wiped."""
    from sqlalchemy import select

    from carnet.notifications.models import OutboxMessage
    from carnet.notifications.service import deliver_pending, enqueue

    with database.transaction() as session:
        enqueue(
            session,
            kind="account.notice",
            recipient="a@example.org",
            subject="Code",
            body_text="Code provisoire : ACDE-FGHJ-KMNP",
        )
    assert deliver_pending(database, settings).sent == 1
    with database.transaction() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.status == "sent" and row.body_text == ""
    eml = next(settings.outbox_dir.glob("*.eml")).read_text()
    assert "ACDE-FGHJ-KMNP" in eml  # what was sent was complete
