"""`carnet professional …` and `carnet operator …`: registering who works with Carnet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from carnet import cli_support as support
from carnet.accounts import service
from carnet.accounts.schemas import ProfessionalIn
from carnet.auth.principal import SYSTEM
from carnet.errors import InvalidInput

professional_app = typer.Typer(help="Health professionals (RPPS).", no_args_is_help=True)
operator_app = typer.Typer(help="Operators of the platform.", no_args_is_help=True)


@professional_app.command("add")
def professional_add(
    rpps: Annotated[str, typer.Option(help="RPPS number (11 digits, Luhn check).")],
    profession: Annotated[str, typer.Option(help="TRE_G15 profession code, e.g. 10 (physician).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    specialty: Annotated[str | None, typer.Option(help="Specialty, free text.")] = None,
    regulator: Annotated[bool, typer.Option(help="Emergency-call regulating physician.")] = False,
) -> None:
    """Register a professional, or update one with the same RPPS."""
    data = service.parse_professional(
        {
            "rpps": rpps,
            "profession": profession,
            "name": name,
            "email": email or "",
            "specialty": specialty or "",
            "regulator": "1" if regulator else "",
        }
    )
    with support.database().transaction() as session:
        row, created = service.upsert_professional(session, data, SYSTEM)
        verb = "Registered" if created else "Updated"
        support.console.print(f"{verb} professional {row.rpps} (profession {row.profession_code}).")


@professional_app.command("import")
def professional_import(
    file: Annotated[
        Path, typer.Argument(help="CSV: rpps,profession,name,email,specialty,regulator")
    ],
) -> None:
    """Register professionals in bulk; invalid rows are reported and skipped."""
    report = service.ImportReport()
    database = support.database()
    batch: list[ProfessionalIn] = []

    def flush() -> None:
        with database.transaction() as session:
            for data in batch:
                _row, created = service.upsert_professional(session, data, SYSTEM)
                if created:
                    report.created += 1
                else:
                    report.updated += 1
        batch.clear()

    with Progress(
        SpinnerColumn(), TextColumn("{task.completed} rows"), console=support.err_console
    ) as bar:
        task = bar.add_task("import")
        for line, row in service.read_professionals_csv(file):
            try:
                batch.append(service.parse_professional(row))
            except InvalidInput as exc:
                report.rejected.append((line, exc.message))
            if len(batch) >= 1000:
                flush()
            bar.advance(task)
        if batch:
            flush()
    for line, reason in report.rejected:
        support.err_console.print(f"line {line}: {reason}")
    support.console.print(
        f"Professionals: {report.created} created, {report.updated} updated, "
        f"{len(report.rejected)} rejected."
    )


@operator_app.command("add")
def operator_add(name: Annotated[str, typer.Argument(help="Operator name.")]) -> None:
    """Register an operator (who can then get a token)."""
    with support.database().transaction() as session:
        service.add_operator(session, name, SYSTEM)
    support.console.print(f"Registered operator {name}.")


def register(app: typer.Typer) -> None:
    app.add_typer(professional_app, name="professional")
    app.add_typer(operator_app, name="operator")
