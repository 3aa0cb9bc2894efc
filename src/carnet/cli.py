"""The `carnet` command line for operators.

Each domain contributes its commands from its own `cli` module; this module assembles them and turns
every deliberate error into one readable line and a non-zero exit status (never a traceback).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import click
import typer

from carnet import cli_support as support
from carnet import registry
from carnet.errors import CarnetError

app = typer.Typer(
    name="carnet",
    help="Carnet operator commands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the effective configuration, without secrets."""
    view = support.settings().public_view()
    if as_json:
        support.console.print_json(json.dumps(view))
        return
    for key, value in view.items():
        support.console.print(f"[bold]{key}[/bold] = {value}", highlight=False)


@app.command("migrate")
def migrate() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from carnet import migrate as migrations

    before, after = migrations.upgrade(support.database())
    if before == after:
        support.console.print(f"Database already at revision {after}; nothing to do.")
    else:
        support.console.print(f"Database migrated from {before or 'empty'} to {after}.")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    jobs: Annotated[bool, typer.Option(help="Run due jobs periodically.")] = True,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes (one per core for throughput).")
    ] = 1,
) -> None:
    """Serve the portal, the JSON API and the FHIR API."""
    import os

    import uvicorn

    from carnet.app import create_app
    from carnet.logs import configure_logging

    settings = support.settings()
    configure_logging(settings.log_level)
    database = support.database()
    database.ping()
    support.vault().check(database)
    if workers > 1:
        database.dispose()
        os.environ["CARNET_SERVE_JOBS"] = "1" if jobs else "0"
        uvicorn.run(
            "carnet.app:create_served_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_config=None,
            server_header=False,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
        return
    application = create_app(settings, database)
    if jobs and settings.jobs_interval_seconds > 0:
        from carnet.jobs.service import start_background_runner

        start_background_runner(application, settings.jobs_interval_seconds)
    # Only these proxies may name the client (X-Forwarded-For): guesses are throttled per client.
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        server_header=False,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


registry.register_commands(app)  # each domain's commands, from its `domain.py`


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command, turn Carnet errors into one line on stderr and an exit status."""
    command = typer.main.get_command(app)
    try:
        status = command.main(args=argv, prog_name="carnet", standalone_mode=False)
    except CarnetError as exc:
        support.err_console.print(f"[red]Error:[/red] {exc.message}", highlight=False)
        return exc.exit_code
    except click.exceptions.Abort:
        support.err_console.print("Aborted.")
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    finally:
        support.reset()
    # Without standalone mode, click returns the code of a `typer.Exit(n)` instead of exiting.
    return status if isinstance(status, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
