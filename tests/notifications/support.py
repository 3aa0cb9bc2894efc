"""What a person receives: the text of an e-mail, whether it still waits in the outbox or was
already delivered (transactional mail leaves right after its commit, and a sent row keeps no body;
with no SMTP server set, the delivered copy is `DATA_DIR/outbox/<id>.eml`)."""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from carnet.config import Settings
from carnet.notifications.models import OutboxMessage

_WAIT_SECONDS = 10.0


def mail_text(message: OutboxMessage, outbox_dir: Path | None = None) -> str:
    """The body the recipient reads: the row's while queued, else the delivered `.eml`'s.

    A live server hands transactional mail over just after its response: the file may appear a
    moment after the page that announced it, so it is waited for (bounded)."""
    if message.body_text:
        return message.body_text
    path = (outbox_dir or Settings().outbox_dir) / f"{message.id}.eml"
    deadline = time.monotonic() + _WAIT_SECONDS
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return eml_text(path.read_bytes())


def eml_text(data: bytes) -> str:
    """The text body of an e-mail file (decoded from quoted-printable or base64)."""
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("plain",))
    assert body is not None
    content: str = body.get_content()
    return content
