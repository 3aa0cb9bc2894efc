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
    commands={
        "carnet.documents.cli": {
            "fsck": "Report (and with --repair, clean) blobs without rows, unfinished writes, "
            "rows whose blob is missing or does not open with the holder's key. Exit status 0 "
            "when clean or repaired.",
        },
        "carnet.documents.migration_cli": {
            "import-dmp": "Import the documents of DMP exports; holders who opposed the "
            "migration are skipped (LC-3).",
        },
    },
)
