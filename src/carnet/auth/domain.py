"""Auth: principals, sessions, tokens and throttles.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="auth",
    models=("carnet.auth.models",),
    commands={
        "carnet.auth.cli": {
            "token": "Print a new API bearer token for an existing principal (exactly one option).",
        },
    },
)
