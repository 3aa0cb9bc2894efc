"""Export: the holder's archive, summary and $everything.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="export",
    routers={
        110: "carnet.export.api:router",
        170: "carnet.export.fhir_api:router",
    },
    models=("carnet.export.models",),
    jobs=("carnet.export.jobs",),
)
