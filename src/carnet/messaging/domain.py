"""Messaging: secure messages between holders and professionals.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="messaging",
    routers={
        120: "carnet.messaging.api:router",
        130: "carnet.messaging.fhir_api:router",
    },
    models=("carnet.messaging.models",),
)
