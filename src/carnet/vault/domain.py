"""Vault: encryption keys and the blob store.

Declared once for `carnet.registry`, which the app, Alembic, the jobs runner and the CLI read."""

from carnet.registry import Domain

DOMAIN = Domain(
    name="vault",
    models=("carnet.vault.models",),
    commands={"carnet.vault.cli": {"keys": "Master key operations."}},
)
