"""`carnet outbox …`, on a command line holding only these commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner, Result

from carnet import cli_support
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput
from carnet.notifications.cli import register
from carnet.notifications.service import enqueue

RECIPIENT = "ana.martin@example.org"


@pytest.fixture
def invoke(settings: Settings) -> Iterator[object]:
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def _invoke(*args: str) -> Result:
        try:
            return runner.invoke(app, list(args))
        finally:
            cli_support.reset()

    yield _invoke


def _enqueue(database: Database) -> str:
    with database.transaction() as session:
        return str(
            enqueue(
                session,
                kind="account.notice",
                recipient=RECIPIENT,
                subject="Secret subject",
                body_text="Secret body",
            ).id
        )


def test_deliver_then_list(invoke, database: Database, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    message_id = _enqueue(database)

    listed = invoke("outbox", "list", "--status", "pending")
    assert listed.exit_code == 0, listed.output
    assert message_id in listed.output
    assert "account.notice" in listed.output

    delivered = invoke("outbox", "deliver")
    assert delivered.exit_code == 0, delivered.output
    assert "1 sent" in delivered.output
    assert (settings.outbox_dir / f"{message_id}.eml").exists()

    assert "No messages." in invoke("outbox", "list", "--status", "pending").output
    listed_sent = invoke("outbox", "list", "--status", "sent").output
    assert message_id in listed_sent
    for secret in (RECIPIENT, "Secret subject", "Secret body"):
        assert secret not in listed_sent


def test_unknown_status_is_refused(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("outbox", "list", "--status", "lost")
    assert isinstance(result.exception, InvalidInput)
    assert "pending, sending, sent, failed" in result.exception.message
