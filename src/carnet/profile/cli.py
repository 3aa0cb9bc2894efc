"""`carnet growth check FILE`: an operator validates a growth reference before configuring it.

Carnet ships no growth reference (docs/growth-curves.md); the operator builds the file from a
source they may use. This command reads it as the server would and lists every problem with its
line, so that a broken file is fixed before the charts depend on it (exit 0 fit, 1 unfit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from carnet import cli_support as support
from carnet.profile import growth_reference

growth_app = typer.Typer(
    help="Children's growth reference (docs/growth-curves.md).", no_args_is_help=True
)
_SHOWN = 50  # problems listed before "… and N more"


@growth_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The growth reference CSV to check.")],
) -> None:
    """Check a growth reference file as the server would read it; exit 1 naming every problem."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        support.err_console.print(f"[red]Error:[/red] {escape(file.name)}: not UTF-8 text.")
        raise typer.Exit(1) from None
    except OSError:
        support.err_console.print(f"[red]Error:[/red] cannot read {escape(str(file))}.")
        raise typer.Exit(1) from None
    report = growth_reference.check(text, file.name)
    for problem in report.warnings:
        support.err_console.print(f"Warning: {escape(problem.where(file.name))}", soft_wrap=True)
    for problem in report.errors[:_SHOWN]:
        support.err_console.print(
            f"[red]Error:[/red] {escape(problem.where(file.name))}", soft_wrap=True
        )
    if len(report.errors) > _SHOWN:
        support.err_console.print(f"… and {len(report.errors) - _SHOWN} more problems.")
    if report.reference is None:
        support.err_console.print(
            f"{escape(file.name)} cannot be used as the growth reference.", soft_wrap=True
        )
        raise typer.Exit(1)
    reference = report.reference
    support.console.print(
        f"{file.name}: fit to be the growth reference.", soft_wrap=True, markup=False
    )
    support.console.print(f"source: {reference.source}", soft_wrap=True, markup=False)
    support.console.print(f"licence: {reference.licence}", soft_wrap=True, markup=False)
    for (indicator, sex), table in sorted(reference.tables.items()):
        support.console.print(
            f"{indicator} {sex}: {len(table.ages)} ages, "
            f"day {table.first_age:g} to day {table.last_age:g}"
        )
    support.console.print(
        f"To use it: CARNET_GROWTH_REFERENCE_FILE={file.resolve()} for `carnet serve` "
        "(the server reads the file again whenever it changes).",
        soft_wrap=True,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(growth_app, name="growth")
