"""Scheduled audit work: sign a checkpoint over the chains that moved, anchor them, fold old
anchor files (rule ACC-8)."""

from __future__ import annotations

from carnet.audit.service import compact_anchors, write_checkpoint
from carnet.audit.signing import load_signer
from carnet.jobs.service import JobContext, job


@job("audit.checkpoint", period="always")
def checkpoint_job(ctx: JobContext) -> str:
    signer = load_signer(ctx.settings.effective_audit_signing_key_file)
    with ctx.database.transaction() as session:
        checkpoint = write_checkpoint(session, signer)
    folded = compact_anchors(ctx.database)
    done = f"checkpoint #{checkpoint.id}" if checkpoint else "nothing new"
    return done + (f", {folded} anchor file(s) folded" if folded else "")
