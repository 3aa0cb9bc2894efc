"""`carnet outbox …`: deliver queued e-mails now and inspect the queue without reading any mail."""

from __future__ import annotations

from typing import Annotated

import typer

from carnet import cli_support as support
from carnet.notifications import service
from carnet.notifications.models import PENDING, SENDING, OutboxMessage


def register(app: typer.Typer) -> None:
    """Add the `outbox` commands to the root command line."""
    outbox_app = typer.Typer(help="E-mail outbox.", no_args_is_help=True)
    app.add_typer(outbox_app, name="outbox")

    @outbox_app.command("deliver")
    def deliver(
        limit: Annotated[int, typer.Option(min=1, help="Most messages to send in this run.")] = 100,
    ) -> None:
        """Send the e-mails that are due now."""
        report = service.deliver_pending(support.database(), support.settings(), limit=limit)
        support.console.print(
            f"Outbox: {report.sent} sent, {report.retried} to retry, {report.failed} failed."
        )

    @outbox_app.command("list")
    def list_(
        status: Annotated[
            str | None, typer.Option(help="Only this status: pending, sending, sent or failed.")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, help="Most messages to show.")] = 50,
    ) -> None:
        """Show recent messages: ids, kinds and delivery state (never recipients or contents).

        One line per message, never cut to the terminal width, so that ids can be copied and grepped.
        """
        with support.database().transaction() as session:
            messages = service.list_messages(session, status=status, limit=limit)
            lines = [_describe(message) for message in messages]
        if not lines:
            support.console.print("No messages.")
        for line in lines:
            support.console.print(line, soft_wrap=True, markup=False)


def _describe(message: OutboxMessage) -> str:
    """One line about a message: no recipient, subject or body."""
    fields = [
        str(message.id),
        message.kind,
        message.status,
        f"attempts={message.attempts}",
        f"created={message.created_at:%Y-%m-%dT%H:%M:%SZ}",
    ]
    if message.status in (PENDING, SENDING):
        fields.append(f"next={message.next_attempt_at:%Y-%m-%dT%H:%M:%SZ}")
    if message.last_error:
        fields.append(f"error={message.last_error}")
    return "  ".join(fields)
