"""What every CLI command shares: the settings, database and vault of this run, and the consoles."""

from __future__ import annotations

from rich.console import Console

from carnet.audit import anchors
from carnet.config import Settings, load_settings
from carnet.db import Database
from carnet.vault.service import Vault

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

_settings: Settings | None = None
_database: Database | None = None
_vault: Vault | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def database() -> Database:
    global _database
    if _database is None:
        _database = Database(settings().effective_database_url, pool_size=4)
        anchors.install(_database, settings(), warn=err_console.print)
    return _database


def vault() -> Vault:
    global _vault
    if _vault is None:
        _vault = Vault.from_settings(settings(), warn=err_console.print)
    return _vault


def reset() -> None:
    """Forget this run's objects (tests call `main` many times in one process)."""
    global _settings, _database, _vault
    if _database is not None:
        _database.dispose()
    _settings = _database = _vault = None
