"""`carnet fsck [--repair]`: check that the blob store and the database agree (see `fsck`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from carnet import cli_support as support
from carnet.documents import fsck as checks

SHOWN = 50  # problems listed one by one; the rest are counted


class _Bar:
    """A Rich progress bar, one task per phase of the scan."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, label: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.stop_task(self.task)
        self.task = self.progress.add_task(label, total=total)

    def advance(self, steps: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, steps)


def fsck(
    repair: Annotated[
        bool, typer.Option("--repair", help="Delete orphan blobs and unfinished writes.")
    ] = False,
) -> None:
    """Report (and with --repair, clean) blobs without rows, unfinished writes, rows whose blob is
    missing or does not open with the holder's key. Exit status 0 when clean or repaired."""
    database = support.database()
    vault = support.vault()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=support.err_console,
        transient=True,
    ) as progress:
        report = checks.scan(database, vault, progress=_Bar(progress))
    if repair:
        checks.repair(database, vault, report)
    _summary(report, repair)
    if report.remaining:
        raise typer.Exit(1)


def _say(text: str) -> None:
    # Whole lines (never wrapped), so that they can be searched and parsed.
    support.console.print(text, soft_wrap=True)


def _summary(report: checks.FsckReport, repair: bool) -> None:
    rows = ", ".join(f"{count} in {table}" for table, count in report.rows.items()) or "none"
    _say(f"Blobs in the store: {report.blobs}; rows referencing blobs: {rows}.")
    for label, found, deleted in (
        ("Orphan blobs (no row refers to them)", len(report.orphans), report.orphans_deleted),
        ("Unfinished writes (.part files)", len(report.leftovers), report.leftovers_deleted),
    ):
        _say(f"{label}: {found}" + (f", {deleted} deleted" if deleted else ""))
    for label, problems in (
        ("Rows whose blob is missing", report.missing),
        ("Rows whose blob does not open with the holder's key", report.unreadable),
    ):
        _say(f"{label}: {len(problems)}" + (" (not repairable)" if problems else ""))
        for problem in problems[:SHOWN]:
            _say(f"  {problem.table}/{problem.row_id} blob {problem.blob_id} ({problem.reason})")
        if len(problems) > SHOWN:
            _say(f"  … and {len(problems) - SHOWN} more")
    if report.recent_skipped:
        _say(
            f"Skipped {report.recent_skipped} unreferenced file(s) younger than "
            f"{int(checks.GRACE.total_seconds() // 60)} minutes (possibly a deposit in progress)."
        )
    if report.remaining == 0:
        _say("[green]Clean after repair.[/green]" if repair else "[green]Clean.[/green]")
        return
    hint = "" if repair else " Run `carnet fsck --repair` to delete orphans and unfinished writes."
    _say(f"[red]{report.remaining} problem(s) remain.[/red]{hint}")


def register(app: typer.Typer) -> None:
    app.command("fsck")(fsck)
