"""Notifications: the e-mail outbox.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="notifications",
    models=("carnet.notifications.models",),
    jobs=("carnet.notifications.jobs",),
    commands={"carnet.notifications.cli": {"outbox": "E-mail outbox."}},
)
