"""The job "export.build" (SRV-5): builds pending "download all my data" requests and expires old
ones. Period "always": every pass of the runner picks up what was requested since the last one.
Registered on import; its domain declares it (`domain.py`)."""

from __future__ import annotations

from carnet.export import archive
from carnet.jobs.service import JobContext, job


@job("export.build", "always")
def build_exports(ctx: JobContext) -> str:
    return archive.build_pending(ctx.database, ctx.settings)
