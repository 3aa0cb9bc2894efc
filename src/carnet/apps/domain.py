"""Apps: the catalogue of connected apps (SRV-3).

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="apps",
    routers={
        160: "carnet.apps.api:router",
    },
    models=("carnet.apps.models",),
    jobs=("carnet.apps.jobs",),
    commands={"carnet.apps.cli": {"app": "The catalogue of connected apps (SRV-3)."}},
)
