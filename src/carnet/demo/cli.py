"""`carnet demo`: load the demo world."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from carnet import cli_support as support
from carnet.demo import service


def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when the database holds no holder yet.")
    ] = False,
) -> None:
    """Load (or refresh) the fictitious demo world and print how to sign in as each person."""
    database = support.database()
    support.vault().check(database)
    with database.transaction() as session:
        if if_empty and not service.is_empty(session):
            support.console.print("Demo data: database not empty, left as it is.")
            return
        logins = service.load(session, support.vault(), support.settings())
    table = Table(title="Demo people: how to sign in")
    table.add_column("Who")
    table.add_column("API token command")
    for who, how in logins.items():
        table.add_row(who, how)
    support.console.print(table)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
