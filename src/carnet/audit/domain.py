"""Audit: the tamper-evident audit log (ACC-8).

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="audit",
    models=("carnet.audit.models",),
    jobs=("carnet.audit.jobs",),
    commands={"carnet.audit.cli": {"audit": "The tamper-evident audit log."}},
)
