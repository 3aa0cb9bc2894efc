"""The `carnet` command line for operators.

Each domain contributes its commands from its own `cli` module; this module assembles them and turns
every deliberate error into one readable line and a non-zero exit status (never a traceback).

A run imports only the module of the command it runs: `carnet --help` lists the domains' commands
from their declarations (`carnet.registry`), so an operator's quick command does not pay for the
web app, the PDF letters or the demo world.
"""

from __future__ import annotations

import importlib
import json
import sys
from difflib import get_close_matches
from typing import Annotated, Any

import typer
import typer.main
from rich.markup import escape
from typer import _click  # the click Typer is built on (Typer vendors it: not the `click` package)
from typer.core import TyperCommand, TyperGroup, TyperOption

from carnet import __version__, registry
from carnet import cli_support as support
from carnet.errors import CarnetError


def load_commands(module: str) -> dict[str, _click.Command]:
    """The commands that `module.register(app)` adds, by name."""
    commands = typer.Typer()
    importlib.import_module(module).register(commands)
    return dict(typer.main.get_group(commands).commands)


# Typer (0.29) prints the value type of every option in the help, `<bool>` beside flags too: this
# one hook on its option class covers every command's flags and the `--help` it adds itself.
_option_type = TyperOption.display_type_rich


def _flag_type(self: TyperOption, ctx: _click.Context) -> str | None:
    """No type beside a flag in the help (`--help`, `--json`, `--jobs/--no-jobs`): it takes no
    value, and Typer's `<bool>` there reads as if it wanted one."""
    return None if self.is_flag else _option_type(self, ctx)


TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


class _Commands(TyperGroup):
    """The top-level group: the domains' commands are listed from their declarations, and a
    command's module is imported when that command is resolved (to run it or show its help)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._own = list(self.commands)
        self._declared = registry.commands()
        self._unlisted = registry.unlisted_command_modules()
        self._listing = False

    def _load_unlisted(self) -> None:
        """Import the modules whose commands only an import names (see `registry.Domain`)."""
        while self._unlisted:
            self.commands.update(load_commands(self._unlisted.pop(0)))

    def list_commands(self, ctx: _click.Context) -> list[str]:
        self._load_unlisted()
        names = [*self._own, *self._declared]
        return names + [name for name in self.commands if name not in names]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        if cmd_name not in self._declared:
            self._load_unlisted()
            return super().get_command(ctx, cmd_name)
        module, summary = self._declared[cmd_name]
        if self._listing:  # the help of this group shows the declared line: no import for that
            return TyperCommand(cmd_name, help=summary)
        self.commands.update(load_commands(module))
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        """Typer's, with the commands not imported yet among the suggestions for a mistyped name."""
        try:
            return super().resolve_command(ctx, args)
        except _click.exceptions.UsageError as exc:
            close = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if self.suggest_commands and close and "Did you mean" not in exc.message:
                suggestions = ", ".join(repr(name) for name in close)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="carnet",
    cls=_Commands,
    help="Carnet operator commands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    """`carnet --version`: answered before any command is resolved, so nothing else is imported."""
    if value:
        support.console.print(f"carnet {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version of Carnet and exit.",
        ),
    ] = False,
) -> None:
    """Carnet operator commands."""


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


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command, turn Carnet errors into one line on stderr and an exit status."""
    command = typer.main.get_command(app)
    try:
        status = command.main(args=argv, prog_name="carnet", standalone_mode=False)
    except CarnetError as exc:
        support.err_console.print(f"[red]Error:[/red] {exc.message}", highlight=False)
        return exc.exit_code
    except typer.Abort:
        support.err_console.print("Aborted.")
        return 130
    except _click.exceptions.NoArgsIsHelpError as exc:  # `carnet audit`: the group's help
        exc.show()
        return 2
    except _click.ClickException as exc:  # a usage error: no such command, a bad option or value
        support.err_console.print(f"[red]Error:[/red] {escape(_one_line(exc))}", soft_wrap=True)
        return 2 if isinstance(exc, _click.exceptions.UsageError) else exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    finally:
        support.reset()
    # Without standalone mode, click returns the code of a `typer.Exit(n)` instead of exiting.
    return status if isinstance(status, int) else 0


def _one_line(exc: _click.ClickException) -> str:
    """Click's message with where to find help, on one line (Click prints the usage first)."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(ctx, _click.Context) and isinstance(exc, _click.exceptions.UsageError):
        message = f"{message.rstrip('.')}. See '{ctx.command_path} --help'."
    return message


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
