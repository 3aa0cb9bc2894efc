"""`carnet provision FILE` (the insurer's roster) and `carnet letters …` (postal notices:
render, list the batches awaiting print, confirm a batch printed, list the notices nobody could
be sent and mark them handled).

Rules LC-1, LC-6, LC-7, LC-8, REP-1; the file format is in `docs/formats/roster.md`.
Exit status: 0 when the rows were processed (even if some were rejected), 1 when the file itself
cannot be used (missing, a directory, empty, no usable header) — the root command prints the reason.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from carnet import cli_support as support
from carnet.accounts import letters as letters_service
from carnet.accounts.roster import provision as provisioning
from carnet.errors import InvalidInput
from carnet.jobs.service import parse_day


def register(app: typer.Typer) -> None:
    """Add `provision` and `letters` to the root command line."""

    @app.command("provision")
    def provision(
        file: Annotated[
            Path,
            typer.Argument(help="The roster: CSV with a header, or NDJSON (.ndjson/.jsonl)."),
        ],
        notice_date: Annotated[
            str | None,
            typer.Option(
                "--notice-date",
                metavar="YYYY-MM-DD",
                help="Date of the notices; the opposition deadline counts from it (LC-1). "
                "Default: today.",
            ),
        ] = None,
        batch_size: Annotated[
            int, typer.Option("--batch-size", help="Rows written per transaction.")
        ] = provisioning.DEFAULT_BATCH_SIZE,
        letters: Annotated[
            bool,
            typer.Option("--letters/--no-letters", help="Render the postal notices at the end."),
        ] = True,
    ) -> None:
        """Create and update holders' spaces from the insurer's roster; bad rows go to
        FILE.rejects.csv, and running the same file again changes nothing."""
        day = parse_day(notice_date) if notice_date is not None else None
        settings = support.settings()
        database = support.database()
        vault = support.vault()
        vault.check(database)
        with support.file_progress("roster", file) as progress:
            report = provisioning.provision(
                database,
                vault,
                settings,
                file,
                notice_date=day,
                batch_size=batch_size,
                progress=progress,
            )
        support.console.print(report.summary())
        support.console.print(
            f"Notices: {report.emails} e-mail(s) queued, {report.letters} letter(s) to print; "
            f"{report.rows:,} rows in {report.seconds:.1f} s ({report.rate:,.0f} rows/s)."
        )
        if report.rejects_file is not None:
            support.console.print(
                f"Rejected rows are listed in {report.rejects_file} (line, field, reason)."
            )
        if report.not_utf8:
            support.err_console.print(
                f"{report.not_utf8} line(s) are not UTF-8: the file may be Latin-1 or Windows-1252. "
                "Convert it (e.g. `iconv -f latin1 -t utf-8`) and run it again."
            )
        if letters:
            _render_letters()

    letters_app = typer.Typer(help="Postal notices (letters to print).", no_args_is_help=True)
    app.add_typer(letters_app, name="letters")

    @letters_app.command("render")
    def render() -> None:
        """Render the waiting letters into PDF batch files under DATA_DIR/letters/ (mode 0600)."""
        _render_letters()

    @letters_app.command("list")
    def list_() -> None:
        """The batch files awaiting the print service's confirmation (names and counts only)."""
        with support.database().transaction() as session:
            batches = letters_service.awaiting_print(session)
        if not batches:
            support.console.print("Letters: no batch awaits printing.")
        for batch in batches:
            support.console.print(
                f"{batch.file}  letters={batch.letters}  "
                f"rendered={batch.rendered_at:%Y-%m-%dT%H:%M:%SZ}",
                soft_wrap=True,
                markup=False,
            )

    @letters_app.command("undeliverable")
    def undeliverable(
        handled: Annotated[
            str | None,
            typer.Option("--handled", metavar="ID", help="Mark this notice handled."),
        ] = None,
    ) -> None:
        """Notices with neither e-mail nor postal address (never printed), oldest first; with
        --handled ID, the person was reached another way and the notice leaves the list."""
        _undeliverable(handled)

    @letters_app.command("printed")
    def printed(
        files: Annotated[
            list[str], typer.Argument(help="Batch files the print service has (names or paths).")
        ],
    ) -> None:
        """Confirm batches printed: their files are deleted and the letters' sealed content wiped
        (LC-8: no clear copy of a name, an address or a code stays in the data directory)."""
        settings = support.settings()
        for name in files:
            with support.database().transaction() as session:
                count = letters_service.mark_printed(session, settings, name)
            support.console.print(
                f"Letters: {Path(name).name} confirmed printed ({count} letter(s)); file deleted.",
                soft_wrap=True,
            )


def _render_letters() -> None:
    database = support.database()
    vault = support.vault()
    report = letters_service.render_all(database, vault, support.settings())
    if not report.files:
        support.console.print("Letters: none waiting.")
        return
    files = ", ".join(str(path) for path in report.files)
    support.console.print(f"Letters: {report.letters} rendered into {files}.")


def _undeliverable(handled: str | None) -> None:
    if handled is not None:
        try:
            wanted = uuid.UUID(handled)
        except ValueError:
            raise InvalidInput("--handled takes an id as this command lists it.") from None
        with support.database().transaction() as session:
            letters_service.mark_handled(session, wanted)
        support.console.print("Undeliverable notice marked handled.")
        return
    with support.database().transaction() as session:
        rows = letters_service.undeliverable(session)
    if not rows:
        support.console.print("Letters: no undeliverable notice.")
    for row in rows:
        support.console.print(
            f"{row.id}  NIR={row.nir}  kind={row.kind}  "
            f"recorded={row.recorded_at:%Y-%m-%dT%H:%M:%SZ}  (no postal address)",
            soft_wrap=True,
            markup=False,
        )
