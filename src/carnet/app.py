"""The FastAPI application factory: one app serving the FHIR API, the JSON API and the portal."""

from __future__ import annotations

import os

from fastapi import FastAPI

from carnet import __version__, http
from carnet.config import Settings
from carnet.db import Database


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """Build the application for `settings`; tests pass their own database."""
    from carnet import health
    from carnet.access import api as access_api
    from carnet.accounts import fhir_api as accounts_fhir
    from carnet.accounts.api import router as holder_router
    from carnet.accounts.family import api as family_api
    from carnet.agenda import api as agenda_api
    from carnet.agenda import fhir_api as agenda_fhir
    from carnet.apps import api as apps_api
    from carnet.audit import anchors as audit_anchors
    from carnet.documents import api as documents_api
    from carnet.documents import fhir_api as documents_fhir
    from carnet.export import api as export_api
    from carnet.export import fhir_api as export_fhir
    from carnet.fhir import api as fhir_api
    from carnet.messaging import api as messaging_api
    from carnet.messaging import fhir_api as messaging_fhir
    from carnet.portal import install as install_portal
    from carnet.profile import api as profile_api
    from carnet.profile import fhir_api as profile_fhir_api
    from carnet.reimbursements import api as reimbursements_api
    from carnet.reimbursements import fhir_api as reimbursements_fhir
    from carnet.vault.service import Vault

    app = FastAPI(
        title="Carnet",
        version=__version__,
        summary="Personal health record: FHIR R4 API, holder API and portal.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database or Database(settings.effective_database_url)
    audit_anchors.install(app.state.database, settings)  # ACC-8: heads anchored outside the DB
    app.state.vault = Vault.from_settings(settings)
    http.install(app)
    app.include_router(health.router)
    app.include_router(family_api.router)
    app.include_router(holder_router)
    app.include_router(documents_api.router)
    app.include_router(documents_fhir.router)
    app.include_router(fhir_api.router)
    app.include_router(access_api.router)
    app.include_router(reimbursements_api.router)
    app.include_router(reimbursements_fhir.router)
    app.include_router(profile_api.router)
    app.include_router(profile_fhir_api.router)
    app.include_router(export_api.router)
    app.include_router(messaging_api.router)
    app.include_router(messaging_fhir.router)
    app.include_router(agenda_api.router)
    app.include_router(agenda_fhir.router)
    app.include_router(apps_api.router)
    app.include_router(export_fhir.router)
    app.include_router(accounts_fhir.router)
    install_portal(app)  # the holder pages and /static
    return app


def create_served_app() -> FastAPI:
    """The application of one server process, from the environment (`carnet serve --workers N`:
    each worker builds its own; they share the database and the blob store, nothing else)."""
    from carnet.config import Settings
    from carnet.jobs.service import start_background_runner

    settings = Settings()
    application = create_app(settings)
    if settings.jobs_interval_seconds > 0 and os.environ.get(_JOBS_FLAG) == "1":
        # Jobs claim their work (unique day rows, SKIP LOCKED): safe in every worker.
        start_background_runner(application, settings.jobs_interval_seconds)
    return application


_JOBS_FLAG = "CARNET_SERVE_JOBS"
