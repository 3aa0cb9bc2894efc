"""The FastAPI application factory: one app serving the FHIR API, the JSON API and the portal."""

from __future__ import annotations

import os

from fastapi import FastAPI

from carnet import __version__, http, openapi, registry
from carnet.audit import anchors as audit_anchors
from carnet.config import Settings
from carnet.db import Database
from carnet.jobs.service import start_background_runner
from carnet.vault.service import Vault


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """Build the application for `settings`; tests pass their own database."""
    app = FastAPI(
        title="Carnet",
        version=__version__,
        summary="Personal health record: FHIR R4 API, holder API and portal.",
        openapi_url="/openapi.json",
        docs_url=None,  # served by carnet.api_docs from the package, without internet
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database or Database(settings.effective_database_url)
    audit_anchors.install(app.state.database, settings)  # ACC-8: heads anchored outside the DB
    app.state.vault = Vault.from_settings(settings)
    http.install(app)
    registry.include_routers(app)  # every domain's routes, the portal's pages and /static
    openapi.install(app)  # /openapi.json completed from the routes' rules (what really happens)
    return app


def create_served_app() -> FastAPI:
    """The application of one server process, from the environment (`carnet serve --workers N`:
    each worker builds its own; they share the database and the blob store, nothing else)."""
    settings = Settings()
    application = create_app(settings)
    if settings.jobs_interval_seconds > 0 and os.environ.get(_JOBS_FLAG) == "1":
        # Jobs claim their work (unique day rows, SKIP LOCKED): safe in every worker.
        start_background_runner(application, settings.jobs_interval_seconds)
    return application


_JOBS_FLAG = "CARNET_SERVE_JOBS"
