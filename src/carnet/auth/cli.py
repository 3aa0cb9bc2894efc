"""`carnet token`: a bearer token for scripts and tests."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from carnet import cli_support as support
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM
from carnet.auth.service import find_principal, issue_token
from carnet.errors import InvalidInput


def token(
    holder: Annotated[str | None, typer.Option("--holder", help="Holder NIR.")] = None,
    professional: Annotated[str | None, typer.Option("--professional", help="RPPS.")] = None,
    regulator: Annotated[str | None, typer.Option("--regulator", help="Regulator RPPS.")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Operator name.")] = None,
    ttl: Annotated[int | None, typer.Option("--ttl", help="Lifetime in minutes.")] = None,
) -> None:
    """Print a new API bearer token for an existing principal (exactly one option)."""
    given = [v for v in (holder, professional, regulator, operator) if v is not None]
    if len(given) != 1:
        raise InvalidInput("Give exactly one of --holder, --professional, --regulator, --operator.")
    settings = support.settings()
    minutes = ttl if ttl is not None else settings.token_ttl_minutes
    if minutes < 1 or minutes > 60 * 24 * 366:
        raise InvalidInput("--ttl must be between 1 minute and one year.")
    with support.database().transaction() as session:
        principal = find_principal(
            session,
            holder_nir=holder,
            professional_rpps=professional,
            regulator_rpps=regulator,
            operator_name=operator,
        )
        value, row = issue_token(session, principal, ttl=dt.timedelta(minutes=minutes), label="cli")
        record(
            session,
            SYSTEM,
            "token.issue",
            target_type="ApiToken",
            target_id=str(row.id),
            reason=principal.kind.value,
        )
    support.console.print(value)


def register(app: typer.Typer) -> None:
    app.command("token")(token)
