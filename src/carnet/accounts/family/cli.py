"""`carnet account add-guardian|end-guardian`: court measures for protected adults (rule REP-5)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from carnet import cli_support as support
from carnet.accounts.family import guardians
from carnet.accounts.models import Holder
from carnet.accounts.service import find_holder
from carnet.auth.principal import SYSTEM
from carnet.errors import NotFound

guardian_app = typer.Typer(help="Guardians of protected adults (REP-5).", no_args_is_help=True)


def _holder(session: Session, nir: str, who: str) -> Holder:
    holder = find_holder(session, nir)
    if holder is None:
        raise NotFound(f"No space for the {who}'s NIR.")
    return holder


@guardian_app.command("add")
def guardian_add(
    adult_nir: Annotated[str, typer.Argument(help="NIR of the protected adult.")],
    guardian_nir: Annotated[str, typer.Argument(help="NIR of the court-appointed guardian.")],
) -> None:
    """Record a guardian, who then acts as a representative (REP-5)."""
    with support.database().transaction() as session:
        adult = _holder(session, adult_nir, "protected adult")
        guardian = _holder(session, guardian_nir, "guardian")
        guardians.add_guardian(session, adult, guardian, SYSTEM)
    support.console.print("Guardian recorded: they now act as a representative.")


@guardian_app.command("end")
def guardian_end(
    adult_nir: Annotated[str, typer.Argument(help="NIR of the protected adult.")],
    guardian_nir: Annotated[str, typer.Argument(help="NIR of the guardian.")],
) -> None:
    """End a guardianship (the court measure ended); the guardian loses access at once."""
    with support.database().transaction() as session:
        adult = _holder(session, adult_nir, "protected adult")
        guardian = _holder(session, guardian_nir, "guardian")
        guardians.end_guardian(session, adult, guardian, SYSTEM)
    support.console.print("Guardianship ended.")


def register(app: typer.Typer) -> None:
    app.add_typer(guardian_app, name="guardian")
