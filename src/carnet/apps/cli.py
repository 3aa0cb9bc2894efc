"""`carnet app add|update|suspend|delist|list`: the operator's catalogue of apps (SRV-3).

A confidential app's secret is printed once by `add` (stored hashed); public apps use PKCE.
Scopes are SMART App Launch v2 (`patient/DocumentReference.rs`, `openid fhirUser offline_access
launch/patient`). A listing's scopes change only with a new version (ACC-9: holders whose consent
does not cover the new listing must consent again).
"""

from __future__ import annotations

from typing import Annotated

import typer

from carnet import cli_support as support
from carnet.apps import rules, service

app_cli = typer.Typer(help="The catalogue of connected apps (SRV-3).", no_args_is_help=True)

RedirectOption = Annotated[
    list[str] | None, typer.Option("--redirect-uri", help="A redirect URI (repeat for several).")
]
ScopeOption = Annotated[
    list[str] | None,
    typer.Option("--scope", help="SMART scopes the app may ask for (repeat, or space-separated)."),
]


@app_cli.command("add")
def add(
    client_id: Annotated[str, typer.Argument(help="The OAuth2 client id (a-z, 0-9, dashes).")],
    name: Annotated[str, typer.Option("--name")],
    publisher: Annotated[str, typer.Option("--publisher")],
    version: Annotated[str, typer.Option("--version")],
    redirect_uri: RedirectOption = None,
    scope: ScopeOption = None,
    description: Annotated[str, typer.Option("--description")] = "",
    status: Annotated[str, typer.Option("--status", help="online, offline…")] = rules.ONLINE,
    confidential: Annotated[
        bool, typer.Option("--confidential", help="Issue a client secret (shown once).")
    ] = False,
) -> None:
    """List a new app."""
    listing = service.Listing(
        name=name,
        publisher=publisher,
        description=description,
        version=version,
        redirect_uris=redirect_uri or [],
        scopes=rules.split_scopes(scope or []),
    )
    with support.database().transaction() as session:
        found, secret = service.add_app(
            session, client_id, listing, status=status, confidential=confidential
        )
        summary = f"App {found.client_id} listed ({found.status}, version {found.version})."
    support.console.print(summary)
    if secret:
        support.console.print(f"Client secret (shown once, keep it safe): {secret}")


@app_cli.command("update")
def update(
    client_id: Annotated[str, typer.Argument()],
    name: Annotated[str | None, typer.Option("--name")] = None,
    publisher: Annotated[str | None, typer.Option("--publisher")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    version: Annotated[str | None, typer.Option("--version")] = None,
    redirect_uri: RedirectOption = None,
    scope: ScopeOption = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
) -> None:
    """Change a listing (a new version with more scopes needs holders' fresh consent, ACC-9)."""
    with support.database().transaction() as session:
        found = service.update_app(
            session,
            client_id,
            name=name,
            publisher=publisher,
            description=description,
            version=version,
            redirect_uris=redirect_uri,
            scopes=rules.split_scopes(scope) if scope else None,
        )
        if status is not None:
            found = service.set_status(session, client_id, status)
        summary = f"App {found.client_id} updated ({found.status}, version {found.version})."
    support.console.print(summary)


def _set(client_id: str, status: str) -> None:
    with support.database().transaction() as session:
        service.set_status(session, client_id, status)
    support.console.print(f"App {client_id} is {status}: its tokens no longer work.")


@app_cli.command("suspend")
def suspend(client_id: Annotated[str, typer.Argument()]) -> None:
    """Suspend an app: it loses access at once (ACC-9)."""
    _set(client_id, rules.SUSPENDED)


@app_cli.command("delist")
def delist(client_id: Annotated[str, typer.Argument()]) -> None:
    """Remove an app from the catalogue: it loses access at once (ACC-9)."""
    _set(client_id, rules.DELISTED)


@app_cli.command("list")
def list_(
    status: Annotated[str | None, typer.Option("--status")] = None,
) -> None:
    """The catalogue: client id, status, version, name, publisher, scopes."""
    with support.database().transaction() as session:
        rows = [
            f"{a.client_id}\t{a.status}\t{a.version}\t{a.name}\t{a.publisher}\t{a.scopes}"
            for a in service.list_apps(session, status)
        ]
    for row in rows:
        support.console.print(row, highlight=False, markup=False)
    if not rows:
        support.console.print("No app listed.")


def register(app: typer.Typer) -> None:
    app.add_typer(app_cli, name="app")
