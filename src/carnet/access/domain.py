"""Access: who may read a holder's record, and the decision point (ACC rules).

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="access",
    routers={
        60: "carnet.access.api:router",
    },
    models=("carnet.access.models",),
)
