"""Accounts: holders' spaces, their representatives and the insurer's roster.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="accounts",
    routers={
        10: "carnet.accounts.family.api:router",
        20: "carnet.accounts.api:router",
        180: "carnet.accounts.fhir_api:router",
    },
    models=("carnet.accounts.models",),
    jobs=(
        "carnet.accounts.family.jobs",
        "carnet.accounts.jobs",
        "carnet.accounts.letters",
    ),
    commands=(
        "carnet.accounts.cli",
        "carnet.accounts.family.cli",
        "carnet.accounts.roster.cli",
    ),
)
