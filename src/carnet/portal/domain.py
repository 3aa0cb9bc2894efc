"""Portal: the holder pages and /static (installed after every API router).

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="portal",
    routers={
        200: "carnet.portal:install",
    },
)
