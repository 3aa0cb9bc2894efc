"""`carnet keys …`: master key operations."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import func, select

from carnet import cli_support as support
from carnet.errors import ConfigurationError
from carnet.vault.models import DataKey
from carnet.vault.service import rotate_master_key

keys_app = typer.Typer(help="Master key operations.", no_args_is_help=True)


@keys_app.command("rotate")
def rotate() -> None:
    """Re-wrap every holder's data key under a new master key (content is not re-encrypted)."""
    settings = support.settings()
    if settings.master_key is not None:
        raise ConfigurationError(
            "The master key is given by CARNET_MASTER_KEY: rotate it in the secrets manager, "
            "listing the new key first and the old one after it, then run `carnet keys rotate` "
            "with a key file."
        )
    database = support.database()
    vault = support.vault()
    vault.check(database)
    with database.transaction() as session:
        total = session.scalar(select(func.count()).select_from(DataKey)) or 0
    with Progress(
        TextColumn("Re-wrapping data keys"),
        BarColumn(),
        MofNCompleteColumn(),
        console=support.err_console,
    ) as progress:
        task = progress.add_task("rewrap", total=total)
        count = rotate_master_key(
            database,
            vault,
            str(settings.effective_master_key_file),
            progress=lambda n: progress.advance(task, n),
        )
    support.console.print(
        f"Master key rotated: {count} data key(s) re-wrapped; new key id {vault.keyring.current}."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
