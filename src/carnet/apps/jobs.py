"""The catalogue's scheduled job: the 90-day reminder of connected apps (SRV-3)."""

from __future__ import annotations

from carnet.apps.service import send_reminders
from carnet.jobs.service import JobContext, job


@job("apps.reminders", period="daily")
def remind_connected_apps(ctx: JobContext) -> str:
    """Each holder is reminded of their connected apps every 90 days (via the outbox)."""
    return f"{send_reminders(ctx.database, ctx.settings, ctx.now)} reminder(s) queued"
