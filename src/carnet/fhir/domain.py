"""FHIR: the shared FHIR R4 machinery and its generic resources.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="fhir",
    routers={
        50: "carnet.fhir.api:router",
    },
)
