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
    commands={
        "carnet.accounts.cli": {
            "professional": "Health professionals (RPPS).",
            "operator": "Operators of the platform.",
            "account": "Holders' spaces (operators).",
        },
        "carnet.accounts.family.cli": {"guardian": "Guardians of protected adults (REP-5)."},
        "carnet.accounts.roster.cli": {
            "provision": "Create and update holders' spaces from the insurer's roster; bad rows go "
            "to FILE.rejects.csv, and running the same file again changes nothing.",
            "letters": "Postal notices (letters to print).",
        },
    },
)
