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
    commands=("carnet.reimbursements.cli",),
)
