"""The outbox's scheduled job: deliver due e-mails on every run."""

from __future__ import annotations

from carnet.jobs.service import JobContext, job
from carnet.notifications.service import deliver_pending


@job("outbox.deliver", period="always")
def deliver_outbox(ctx: JobContext) -> str:
    """Mail waits at most one job interval (plus retry backoff) before it is sent."""
    report = deliver_pending(ctx.database, ctx.settings)
    return f"{report.sent} sent, {report.retried} to retry, {report.failed} failed"
