"""Shared fixtures: every test gets its own data directory and an empty, migrated database.

The database is SQLite by default; set CARNET_TEST_DATABASE_URL to a postgresql+psycopg:// URL to run
the same suite on PostgreSQL (`make test` does both). On PostgreSQL each pytest process works in its
own schema, migrated once, and every table is emptied after each test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from carnet import cli_support
from carnet.app import create_app
from carnet.audit import anchors
from carnet.config import Settings
from carnet.db import Base, Database
from carnet.migrate import MIGRATIONS_DIR, upgrade
from carnet.registry import load_models
from carnet.vault.service import Vault

load_models()

# Property tests assert rules, never speed: hypothesis's per-example deadline is a wall-clock limit
# that a loaded machine (CI's two cores running both engines' workers) trips for no fault of the code.
hypothesis_settings.register_profile("carnet", deadline=None)
hypothesis_settings.load_profile("carnet")


def _build_schema(database: Database) -> None:
    """Migrate with Alembic; before the first revision exists, build from the models."""
    if any((MIGRATIONS_DIR / "versions").glob("*.py")):
        upgrade(database)
    else:
        Base.metadata.create_all(database.engine)


TEST_DATABASE_URL = os.environ.get("CARNET_TEST_DATABASE_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


def pytest_report_header() -> str:
    return f"carnet database: {'PostgreSQL' if ON_POSTGRES else 'SQLite'}"


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database made once per test process: a SQLite file to copy, or a PG schema."""
    if ON_POSTGRES:
        schema = f"carnet_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = Database(TEST_DATABASE_URL, pool_size=1)
        with admin.engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(TEST_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        rendered = url.render_as_string(hide_password=False)
        database = Database(rendered, pool_size=1)
        _build_schema(database)
        database.dispose()
        try:
            yield rendered
        finally:
            with admin.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "carnet.db"
        database = Database(f"sqlite:///{path}", pool_size=1)
        _build_schema(database)
        database.dispose()
        yield str(path)


@pytest.fixture
def database_url(_migrated_template: str, tmp_path: Path) -> str:
    if ON_POSTGRES:
        return _migrated_template
    target = tmp_path / "var" / "carnet.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for one test; also exported to the environment so CLI commands see the same."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(exist_ok=True)
    for name in list(os.environ):
        if name.startswith("CARNET_") and name != "CARNET_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    values = {
        "CARNET_DATA_DIR": str(data_dir),
        "CARNET_DATABASE_URL": database_url,
        "CARNET_JOBS_INTERVAL_SECONDS": "0",
        "CARNET_BASE_URL": "http://testserver",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    cli_support.reset()
    return Settings()


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.effective_database_url, pool_size=4)
    anchors.install(db, settings)  # as the app and the CLI do (ACC-8)
    try:
        yield db
    finally:
        if ON_POSTGRES:
            _truncate_all(db)
        db.dispose()


def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    if tables:
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def vault(settings: Settings) -> Vault:
    return Vault.from_settings(settings, warn=lambda _message: None)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session for service-level tests; the test commits when it means to."""
    s = database.sessionmaker()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def app(settings: Settings, database: Database, vault: Vault):  # type: ignore[no-untyped-def]
    application = create_app(settings, database)
    application.state.vault = vault
    return application


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def run_cli(settings: Settings, database: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `carnet ARGS…` in process; returns (exit status, stdout, stderr).

    Lines are not wrapped (a wide terminal), so messages read the same whatever the path lengths."""
    from carnet.cli import main

    monkeypatch.setenv("COLUMNS", "400")

    def _run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        cli_support.reset()
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return _run
