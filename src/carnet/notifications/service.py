"""Queueing and delivering e-mails through the outbox.

A mail is enqueued in the caller's transaction, so it exists if and only if the event it reports was
committed. Delivery happens outside that transaction: messages are claimed in a short transaction,
sent, and their outcome recorded in another short transaction. A crash between claim and outcome
leaves the message `sending` until its lease ends, then it is claimed again; the stable Message-ID
lets receivers drop the rare duplicate this causes.

Transactional mail — what a person is waiting for on the page they just submitted: a login code,
a provisional code they asked for — is handed to the transport right after the commit
(`db.after_commit`, run by the edge after the response), the same claim/send/record path as the
jobs loop; if that fails the row stays pending and the outbox's retries (with backoff) take over.
Everything else waits for the jobs loop (`outbox.deliver`).

Once sent, or given up, a message's body is wiped. With no SMTP server set (development, demos)
each message becomes a `.eml` file in `DATA_DIR/outbox/`; the purge of a space deletes its rows
and those files (LC-8).

Only ids and error class names are logged: never a recipient, a subject or a body.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import smtplib
import socket
import ssl
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from sqlalchemy import ColumnElement, CursorResult, Result, and_, delete, select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.config import Settings
from carnet.db import Database, after_commit, new_id
from carnet.errors import ConfigurationError, InvalidInput
from carnet.notifications import rules
from carnet.notifications.models import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    STATUSES,
    OutboxMessage,
)

log = logging.getLogger("carnet.notifications")

SMTP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery run did: messages sent, given up on, and left for a later retry."""

    sent: int = 0
    failed: int = 0
    retried: int = 0

    def __str__(self) -> str:
        return f"sent {self.sent}, retried {self.retried}, failed {self.failed}"


def enqueue(
    session: Session,
    *,
    kind: str,
    recipient: str,
    subject: str,
    body_text: str,
    holder_id: uuid.UUID | None = None,
    transactional: bool = False,
) -> OutboxMessage:
    """Queue an e-mail in the caller's transaction; it is sent only if that transaction commits.

    `transactional`: someone is waiting for it now (a login code): it goes to the transport right
    after the commit instead of at the next jobs run; the outbox stays its retry path.
    """
    if not kind or len(kind) > 50:
        raise InvalidInput("An e-mail kind has 1 to 50 characters.", field="kind")
    if not rules.is_valid_email(recipient):
        # The address itself is not quoted: error messages end up in logs.
        raise InvalidInput("The recipient is not a valid e-mail address.", field="recipient")
    if not subject or len(subject) > 200 or "\r" in subject or "\n" in subject:
        raise InvalidInput("An e-mail subject is one line of 1 to 200 characters.", field="subject")
    now = clock.now()
    message = OutboxMessage(
        id=new_id(),
        created_at=now,
        kind=kind,
        recipient=recipient,
        subject=subject,
        body_text=body_text,
        holder_id=holder_id,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
    )
    session.add(message)
    if transactional:
        after_commit(session, _send_now(message.id))
    return message


def _send_now(message_id: uuid.UUID) -> Callable[[Database, Settings], None]:
    def send(database: Database, settings: Settings) -> None:
        try:
            deliver_now(database, settings, [message_id])
        except Exception as exc:  # the row is still pending: the jobs loop sends it
            log.warning(
                "transactional e-mail not handed over; the outbox will retry",
                extra={"outbox_id": str(message_id), "error_type": type(exc).__name__},
            )

    return send


def delete_for_holder(
    session: Session,
    settings: Settings,
    holder_id: uuid.UUID,
    *,
    addresses: Sequence[str] = (),
) -> int:
    """LC-8: delete every queued or past e-mail about a holder, and the past ones sent to one of
    their addresses (a representative's mail about a minor carries the representative's
    address), with the `.eml` copies the file transport left in `DATA_DIR/outbox/`. Returns how
    many rows went.

    Mail still to be sent about someone else is kept even when it goes to that address: families
    share addresses, and the other person's notice must still leave. The files go at once, before
    the purge commits: they are copies of mail already delivered, so a rolled-back purge loses
    nothing that matters, while a crash after the commit must not leave them behind."""
    condition = OutboxMessage.holder_id == holder_id
    wanted = [address for address in addresses if address]
    if wanted:
        condition = condition | and_(
            OutboxMessage.recipient.in_(wanted), OutboxMessage.status.in_((SENT, FAILED))
        )
    ids = list(session.scalars(select(OutboxMessage.id).where(condition)))
    for start in range(0, len(ids), 500):
        session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.id.in_(ids[start : start + 500]))
            .execution_options(synchronize_session=False)
        )
    for message_id in ids:
        _FileTransport(settings.outbox_dir).forget(message_id)
    return len(ids)


def _rowcount(result: Result[Any]) -> int:
    """Rows matched by a DML statement (the Session types its result generically)."""
    return int(cast(CursorResult[Any], result).rowcount)


def list_messages(
    session: Session, *, status: str | None = None, limit: int = 50
) -> Sequence[OutboxMessage]:
    """The most recent messages, optionally of one status (for operators)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"Unknown outbox status {status!r}; expected one of: {', '.join(STATUSES)}.",
            field="status",
        )
    query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    return session.scalars(query).all()


@dataclass(frozen=True)
class _Claimed:
    """A claimed message, detached from its session so sending needs no open transaction."""

    id: uuid.UUID
    created_at: dt.datetime
    recipient: str
    subject: str
    body_text: str
    attempts: int
    lease_ends_at: dt.datetime


def deliver_pending(database: Database, settings: Settings, *, limit: int = 100) -> DeliveryReport:
    """Send up to `limit` due messages by SMTP (or as .eml files when no SMTP server is set)."""
    return _deliver(database, settings, limit=limit)


def deliver_now(
    database: Database, settings: Settings, message_ids: Sequence[uuid.UUID]
) -> DeliveryReport:
    """Send these messages now if they are still pending and due (transactional mail, right
    after the commit that queued them); a failure leaves them to the retry path."""
    if not message_ids:
        return DeliveryReport()
    return _deliver(database, settings, limit=len(message_ids), only=message_ids)


def _deliver(
    database: Database,
    settings: Settings,
    *,
    limit: int,
    only: Sequence[uuid.UUID] | None = None,
) -> DeliveryReport:
    # The transport first: a configuration error must not leave claimed messages behind.
    transport: _Transport = (
        _SmtpTransport(settings.smtp_url.get_secret_value())
        if settings.smtp_url is not None
        else _FileTransport(settings.outbox_dir)
    )
    claimed, failed = _claim(database, limit, settings.outbox_max_attempts, only=only)
    sent = retried = 0
    with transport:
        for item in claimed:
            if clock.now() >= item.lease_ends_at:
                # Another run may already have claimed the rest again; stop rather than duplicate.
                log.warning("outbox lease expired during delivery; stopping this run")
                break
            try:
                transport.send(item.id, _build_message(settings, item))
            except Exception as exc:
                error = _error_code(exc)
                if _record_failure(database, settings, item, error):
                    failed += 1
                else:
                    retried += 1
            else:
                if not _record_sent(database, item):
                    # Purged while it was being sent (LC-8): no copy of it stays here.
                    transport.forget(item.id)
                sent += 1
    return DeliveryReport(sent=sent, failed=failed, retried=retried)


def _claim(
    database: Database,
    limit: int,
    max_attempts: int,
    *,
    only: Sequence[uuid.UUID] | None = None,
) -> tuple[list[_Claimed], int]:
    """Mark due messages `sending` in one short transaction, so no other run sends them too.

    Also returns how many abandoned messages were given up: one whose sender died on its last
    attempt is not tried again, lest a message that crashes the sender be retried forever.
    `only`: just these messages, and only while pending (a transactional hand-over never takes
    a message another sender holds).
    """
    now = clock.now()
    lease_end = now + rules.SENDING_LEASE
    claimed: list[_Claimed] = []
    given_up = 0
    due = OutboxMessage.next_attempt_at <= now
    condition = (
        and_(due, OutboxMessage.status.in_((PENDING, SENDING)))
        if only is None
        else and_(due, OutboxMessage.status == PENDING, OutboxMessage.id.in_(list(only)))
    )
    with database.transaction() as session:
        # PostgreSQL: concurrent runs skip each other's rows. SQLite renders no FOR UPDATE; there the
        # BEGIN IMMEDIATE of every transaction already serialises the claims.
        rows = session.scalars(
            select(OutboxMessage)
            .where(condition)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            if row.status == SENDING:
                log.warning(
                    "outbox message abandoned by its sender",
                    extra={"outbox_id": str(row.id), "attempt": row.attempts},
                )
                if row.attempts >= max_attempts:
                    row.status = FAILED
                    row.last_error = "SenderLeaseExpired"
                    row.body_text = ""  # never sent, never tried again: the code goes
                    given_up += 1
                    continue
            row.status = SENDING
            row.attempts += 1
            row.next_attempt_at = lease_end
            claimed.append(
                _Claimed(
                    id=row.id,
                    created_at=row.created_at,
                    recipient=row.recipient,
                    subject=row.subject,
                    body_text=row.body_text,
                    attempts=row.attempts,
                    lease_ends_at=lease_end,
                )
            )
    return claimed, given_up


def _still_ours(item: _Claimed) -> ColumnElement[bool]:
    """This run still holds the claim: the message was neither purged nor claimed again."""
    return and_(
        OutboxMessage.id == item.id,
        OutboxMessage.status == SENDING,
        OutboxMessage.attempts == item.attempts,
    )


def _record_sent(database: Database, item: _Claimed) -> bool:
    """Mark the message sent and wipe its body; False when its row is gone (purged meanwhile)."""
    with database.transaction() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(_still_ours(item))
            # Once sent, the body is wiped: notices carry provisional codes and one-time login
            # codes, which must not stay readable in the database.
            .values(status=SENT, sent_at=clock.now(), last_error=None, body_text="")
        )
        if _rowcount(result) == 0:
            exists = session.get(OutboxMessage, item.id) is not None
            log.warning(
                "outbox message sent but no longer claimed", extra={"outbox_id": str(item.id)}
            )
            return exists
    log.info("outbox message sent", extra={"outbox_id": str(item.id), "attempt": item.attempts})
    return True


def _record_failure(database: Database, settings: Settings, item: _Claimed, error: str) -> bool:
    """Put the message back for a later attempt, or give up; True when given up."""
    give_up = item.attempts >= settings.outbox_max_attempts
    values: dict[str, object] = {"last_error": error[:200]}
    if give_up:
        values["status"] = FAILED
        values["body_text"] = ""  # never to be sent: a code must not stay readable here
    else:
        values["status"] = PENDING
        values["next_attempt_at"] = clock.now() + rules.next_attempt_delay(item.attempts)
    with database.transaction() as session:
        session.execute(update(OutboxMessage).where(_still_ours(item)).values(**values))
    log.warning(
        "outbox message given up" if give_up else "outbox message delivery failed; will retry",
        extra={"outbox_id": str(item.id), "attempt": item.attempts, "error_type": error},
    )
    return give_up


def _build_message(settings: Settings, item: _Claimed) -> EmailMessage:
    """The e-mail, identical on every attempt so that receivers can drop duplicates."""
    message = EmailMessage()
    message["Message-ID"] = f"<{item.id}@carnet>"
    message["Date"] = format_datetime(item.created_at)
    message["From"] = settings.mail_from
    message["To"] = item.recipient
    message["Subject"] = item.subject
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(item.body_text)
    return message


class _SmtpUnreachable(OSError):
    """The SMTP server could not be reached earlier in this run; `code` is that first error."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _error_code(exc: BaseException) -> str:
    """An error class and SMTP code: server replies are not kept, they may quote the message."""
    if isinstance(exc, _SmtpUnreachable):
        return exc.code
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{name}:{exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _reply in exc.recipients.values()})
        return f"{name}:{','.join(codes)}"
    return name


class _Transport:
    """Where messages go; used as a context manager around one delivery run."""

    def send(self, message_id: uuid.UUID, message: EmailMessage) -> None:
        raise NotImplementedError

    def forget(self, message_id: uuid.UUID) -> None:
        """Drop any copy of a sent message this transport keeps (nothing, for SMTP)."""

    def close(self) -> None:
        """Release what the run held (a connection)."""

    def __enter__(self) -> _Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _FileTransport(_Transport):
    """Development and tests: each message becomes `<id>.eml`, replaced atomically on retry."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message_id: uuid.UUID, message: EmailMessage) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = message.as_bytes(policy=policy.SMTP)
        fd, temp_name = tempfile.mkstemp(
            dir=self.directory, prefix=f".{message_id}.", suffix=".tmp"
        )
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.directory / f"{message_id}.eml")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        fsync_directory(self.directory)

    def forget(self, message_id: uuid.UUID) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.directory / f"{message_id}.eml")


def fsync_directory(directory: Path) -> None:
    """Make the rename durable; some platforms cannot open a directory, which is then skipped."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _SmtpTransport(_Transport):
    """One SMTP connection per run, opened on first use and re-opened after a broken one.

    When the server cannot be reached at all, the remaining messages of the run fail at once with the
    same error instead of each waiting for its own connection timeout.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError("CARNET_SMTP_URL must look like smtp://user:pass@host:port.")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        try:
            self.port = parts.port or (465 if self.tls else 25)
        except ValueError:
            raise ConfigurationError("CARNET_SMTP_URL has an invalid port.") from None
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else ""
        self._client: smtplib.SMTP | None = None
        self._unreachable: str | None = None

    def _connect(self) -> smtplib.SMTP:
        # The plain host name, not getfqdn(): that can stall on reverse DNS lookups.
        local_name = socket.gethostname() or "localhost"
        client: smtplib.SMTP
        if self.tls:
            client = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=local_name,
                timeout=SMTP_TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(
                self.host, self.port, local_hostname=local_name, timeout=SMTP_TIMEOUT_SECONDS
            )
        try:
            if self.username:
                client.login(self.username, self.password)
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message_id: uuid.UUID, message: EmailMessage) -> None:
        if self._unreachable is not None:
            raise _SmtpUnreachable(self._unreachable)
        if self._client is None:
            try:
                self._client = self._connect()
            except OSError as exc:  # smtplib.SMTPException is an OSError too
                self._unreachable = _error_code(exc)
                raise
        try:
            self._client.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException):
            # smtplib has reset the transaction; the connection serves the next message.
            raise
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
