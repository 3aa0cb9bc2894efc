"""`carnet audit …`: verify the log, write a checkpoint."""

from __future__ import annotations

import json

import typer

from carnet import cli_support as support
from carnet.audit.service import compact_anchors, write_checkpoint
from carnet.audit.signing import load_signer
from carnet.audit.verify import verify
from carnet.errors import CarnetError

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify_command() -> None:
    """Walk every chain and checkpoint; exit 1 naming the first bad entry, 0 when intact."""
    signer = load_signer(
        support.settings().effective_audit_signing_key_file, support.err_console.print
    )
    with support.database().transaction() as session:
        report = verify(session, signer)
    for note in report.notes:
        support.err_console.print(f"[yellow]Note:[/yellow] {note}")
    if report.intact:
        support.console.print(
            f"Audit log intact: {report.entries} entries in {report.chains} chain(s), "
            f"{report.checkpoints} signed checkpoint(s), "
            f"{report.anchored} chain head(s) anchored outside the database."
        )
        return
    for line in report.problems:
        support.err_console.print(f"[red]Broken:[/red] {line}")
    # Not typer.Exit(1): carnet.cli.main runs click with standalone_mode=False, which returns an
    # Exit's code instead of raising it, and main then reported success (status 0).
    raise CarnetError("The audit log is not intact.", code="audit-log-broken")


@audit_app.command("checkpoint")
def checkpoint_command() -> None:
    """Sign the chain heads that moved since the last checkpoint (and anchor them)."""
    signer = load_signer(
        support.settings().effective_audit_signing_key_file, support.err_console.print
    )
    with support.database().transaction() as session:
        checkpoint = write_checkpoint(session, signer)
        summary = (
            f"Checkpoint #{checkpoint.id} signed over {len(json.loads(checkpoint.leaves))} chain head(s)."
            if checkpoint
            else "Nothing new to checkpoint."
        )
    folded = compact_anchors(support.database())
    if folded:
        summary += f" {folded} anchor file(s) folded into the summary."
    support.console.print(summary)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
