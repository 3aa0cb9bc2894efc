"""Demo: the fictitious demo world.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="demo",
    commands={
        "carnet.demo.cli": {
            "demo": "Load (or refresh) the fictitious demo world and print how to sign in as each "
            "person.",
        },
    },
)
