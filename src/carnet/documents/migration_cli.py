"""`carnet import-dmp PATH…`: migrate DMP exports (IHE XDM media) into holders' spaces.

Rules LC-3, ID-1, ID-3, DOC-1, DOC-2; the accepted subset is described in docs/formats/xdm.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from carnet import cli_support as support
from carnet.documents import migration
from carnet.errors import InvalidInput


def import_dmp(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH", help="XDM media: ZIP files or folders holding IHE_XDM/."),
    ],
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="CSV report to write (default: <first PATH>.report.csv).",
            dir_okay=False,
        ),
    ] = None,
    accept_test_identities: Annotated[
        bool,
        typer.Option(
            "--accept-test-identities",
            help="Accept test/demo INS authorities (1.2.250.1.213.1.4.10/.11): never in production.",
        ),
    ] = False,
) -> None:
    """Import the documents of DMP exports; holders who opposed the migration are skipped (LC-3).

    Exit status 0 when every PATH was read as an XDM medium (rejected documents are listed in the report), 1 when a PATH is unreadable or not an XDM medium.
    """
    settings = support.settings()
    database = support.database()
    vault = support.vault()
    vault.check(database)
    target = report or Path(str(paths[0]).rstrip("/\\") + ".report.csv")
    try:
        with target.open("a", encoding="utf-8"):
            pass  # fail now, not after the import, when the report cannot be written
    except OSError as exc:
        raise InvalidInput(f"Cannot write the report {target}: {exc.strerror}.") from None
    options = migration.Options(accept_test_identities=accept_test_identities)
    run = migration.Migration(database, vault, settings, options)
    try:
        with Progress(
            TextColumn("DMP import"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=support.err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("documents", total=None)
            scanned = run.scan(paths)
            bar.update(task, total=migration.Migration.count(scanned))
            run.run(scanned, lambda: bar.advance(task))
    finally:
        # Also after an interruption (database gone, Ctrl-C): what was done is in the report.
        migration.write_report(target, run.summary.rows)
    summary = run.summary
    for row in summary.rows:
        if row.outcome == migration.REFUSED:
            where = " ".join(part for part in (row.medium, row.subset, row.entry) if part)
            support.err_console.print(f"[yellow]refused[/yellow] {where}: {row.reason}")
    support.console.print(
        f"DMP import: {summary.imported} imported, {summary.already_imported} already imported, "
        f"{summary.skipped} skipped, {summary.rejected} rejected"
        + (
            f"; {summary.problems} media, submission sets or members refused (see the report)"
            if summary.problems
            else ""
        )
        + "."
    )
    support.console.print(f"Report: {target}")
    if summary.exit_status:
        raise typer.Exit(summary.exit_status)


def register(app: typer.Typer) -> None:
    app.command("import-dmp")(import_dmp)
