"""`carnet import-reimbursements FILE`: the insurer's reimbursement feed (SRV-4, REP-2, ACC-8).

The format is in `docs/formats/reimbursements.md`. Exit status: 0 when the lines were processed
(even if some were rejected), 1 when the file itself cannot be used — the root command prints why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carnet import cli_support as support
from carnet.reimbursements import importer


def register(app: typer.Typer) -> None:
    """Add `import-reimbursements` to the root command line."""

    @app.command("import-reimbursements")
    def import_reimbursements(
        file: Annotated[
            Path,
            typer.Argument(help="The feed: CSV with a header, or NDJSON (.ndjson/.jsonl)."),
        ],
        batch_size: Annotated[
            int, typer.Option("--batch-size", help="Lines written per transaction.")
        ] = importer.DEFAULT_BATCH_SIZE,
    ) -> None:
        """Import the insurer's reimbursement lines; secret acts of minors are never stored
        (REP-2), bad lines go to FILE.rejects.csv, and running the same file again changes
        nothing."""
        settings = support.settings()
        database = support.database()
        vault = support.vault()
        vault.check(database)
        with support.file_progress("reimbursements", file) as progress:
            report = importer.import_feed(
                database, vault, settings, file, batch_size=batch_size, progress=progress
            )
        support.console.print(report.summary())
        support.console.print(
            f"{report.rows:,} lines in {report.seconds:.1f} s ({report.rate:,.0f} lines/s)."
        )
        if report.rejects_file is not None:
            support.console.print(
                f"Rejected lines are listed in {report.rejects_file} (line, field, reason)."
            )
