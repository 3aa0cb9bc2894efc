"""Documents: deposits, folders, DocumentReference and the DMP import.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="documents",
    routers={
        30: "carnet.documents.api:router",
        40: "carnet.documents.fhir_api:router",
    },
    models=("carnet.documents.models",),
    jobs=("carnet.documents.jobs",),
    commands=(
        "carnet.documents.cli",
        "carnet.documents.migration_cli",
    ),
)
