"""`carnet jobs …`: run the due jobs now (e.g. from cron) and see when each last ran."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from carnet import cli_support as support
from carnet.errors import CarnetError
from carnet.jobs import service


def register(app: typer.Typer) -> None:
    """Add the `jobs` commands to the root command line."""
    jobs_app = typer.Typer(help="Scheduled jobs.", no_args_is_help=True)
    app.add_typer(jobs_app, name="jobs")

    @jobs_app.command("run")
    def run(
        as_of: Annotated[
            str | None,
            typer.Option(
                "--as-of",
                metavar="YYYY-MM-DD",
                help="Run as if it were this day (day-based rules use it); default: today.",
            ),
        ] = None,
    ) -> None:
        """Run the jobs that are due; exits 1 if one of them failed."""
        day = service.parse_day(as_of) if as_of is not None else None
        outcomes = service.run_due(support.database(), support.settings(), as_of=day)
        table = Table("job", "result", "summary")
        for outcome in outcomes:
            table.add_row(outcome.name, outcome.status, outcome.summary)
        support.console.print(table)
        failed = [outcome.name for outcome in outcomes if outcome.status == "failed"]
        if failed:
            # A CarnetError, so the root command prints one line and exits 1 (cron notices).
            raise CarnetError(
                f"{len(failed)} job(s) failed: {', '.join(failed)}; they will be retried next run.",
                code="job-failed",
            )

    @jobs_app.command("list")
    def list_() -> None:
        """Show the registered jobs and their latest run."""
        service.load_jobs()
        table = Table("job", "period", "last run", "status", "summary")
        with support.database().transaction() as session:
            runs = service.last_runs(session)
            for registered in service.registered_jobs():
                run = runs.get(registered.name)
                table.add_row(
                    registered.name,
                    registered.period,
                    run.started_at.isoformat(timespec="seconds") if run else "never",
                    run.status if run else "",
                    run.summary if run else "",
                )
        support.console.print(table)
