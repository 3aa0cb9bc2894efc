"""Agenda: appointments, reminders and prevention.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="agenda",
    routers={
        140: "carnet.agenda.api:router",
        150: "carnet.agenda.fhir_api:router",
    },
    models=("carnet.agenda.models",),
    jobs=("carnet.agenda.jobs",),
)
