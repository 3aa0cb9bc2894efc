"""Reimbursements: the insurer's reimbursement lines.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="reimbursements",
    routers={
        70: "carnet.reimbursements.api:router",
        80: "carnet.reimbursements.fhir_api:router",
    },
    models=("carnet.reimbursements.models",),
    commands={
        "carnet.reimbursements.cli": {
            "import-reimbursements": "Import the insurer's reimbursement lines; secret acts of "
            "minors are never stored (REP-2), bad lines go to FILE.rejects.csv, and running the "
            "same file again changes nothing.",
        },
    },
)
