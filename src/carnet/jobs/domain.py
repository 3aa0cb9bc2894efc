"""Jobs: the scheduled jobs runner.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="jobs",
    models=("carnet.jobs.models",),
    commands={"carnet.jobs.cli": {"jobs": "Scheduled jobs."}},
)
