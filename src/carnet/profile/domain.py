"""Profile: the medical profile.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="profile",
    routers={
        90: "carnet.profile.api:router",
        100: "carnet.profile.fhir_api:router",
    },
    models=("carnet.profile.models",),
    commands={
        "carnet.profile.cli": {"growth": "Children's growth reference (docs/growth-curves.md)."}
    },
)
