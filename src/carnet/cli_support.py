"""What every CLI command shares: the settings, database and vault of this run, and the consoles.

Each is imported when a command first asks for it: `carnet --help` needs none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

if TYPE_CHECKING:
    from carnet.config import Settings
    from carnet.db import Database
    from carnet.vault.service import Vault

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

_settings: Settings | None = None
_database: Database | None = None
_vault: Vault | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        from carnet.config import load_settings

        _settings = load_settings()
    return _settings


def database() -> Database:
    global _database
    if _database is None:
        from carnet.audit import anchors
        from carnet.db import Database

        _database = Database(settings().effective_database_url, pool_size=4)
        anchors.install(_database, settings(), warn=err_console.print)
    return _database


def vault() -> Vault:
    global _vault
    if _vault is None:
        from carnet.vault.service import Vault

        _vault = Vault.from_settings(settings(), warn=err_console.print)
    return _vault


def reset() -> None:
    """Forget this run's objects (tests call `main` many times in one process)."""
    global _settings, _database, _vault
    if _database is not None:
        _database.dispose()
    _settings = _database = _vault = None


class _RateColumn(ProgressColumn):
    """Rows per second, measured over the whole run so far."""

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        elapsed = task.elapsed or 0.0
        rate = rows / elapsed if elapsed > 0 else 0.0
        return Text(f"{rows:,} rows  {rate:,.0f} rows/s")


@contextmanager
def file_progress(label: str, file: Path) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr over the bytes of `file` being read, with the rows done and their
    rate; yields `progress(rows, position)` for the reader to call.

    A reader that finishes has read the whole file, so the bar then ends at 100% (its last
    `position` may lag behind buffered reads); a failed run keeps the bar where it stopped. The bar
    always ends its line, so what follows starts on a new one, in a terminal or a log file."""
    total = max(file.stat().st_size, 1) if file.is_file() else 1
    try:
        with Progress(
            TextColumn(f"[bold]{label}[/bold]"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            _RateColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        ) as bar:
            task = bar.add_task(label, total=total, rows=0)

            def progress(rows: int, position: int) -> None:
                bar.update(task, completed=position, rows=rows)

            yield progress
            bar.update(task, completed=total)
    finally:
        if not err_console.is_terminal:  # a terminal gets its new line from the live display
            err_console.line()
