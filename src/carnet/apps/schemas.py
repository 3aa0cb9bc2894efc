"""JSON shapes of the catalogue and of the holder's connected apps (SRV-3)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from carnet.apps.models import App
from carnet.apps.service import Connected


class CatalogueAppOut(BaseModel):
    client_id: str
    name: str
    publisher: str
    description: str
    version: str
    scopes: list[str]

    @classmethod
    def of(cls, app: App) -> CatalogueAppOut:
        return cls(
            client_id=app.client_id,
            name=app.name,
            publisher=app.publisher,
            description=app.description,
            version=app.version,
            scopes=app.scopes.split(),
        )


class ConnectedAppOut(BaseModel):
    client_id: str
    name: str
    publisher: str
    status: str
    version: str
    consented_version: str
    scopes: list[str]
    connected_at: dt.datetime
    needs_fresh_consent: bool

    @classmethod
    def of(cls, found: Connected) -> ConnectedAppOut:
        return cls(
            client_id=found.client_id,
            name=found.name,
            publisher=found.publisher,
            status=found.status,
            version=found.version,
            consented_version=found.consented_version,
            scopes=found.scopes,
            connected_at=found.connected_at,
            needs_fresh_consent=found.needs_fresh_consent,
        )


class DisconnectedOut(BaseModel):
    client_id: str
    revoked_tokens: int
