"""The principal: who performs an action, as every service and the access rules see it."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class PrincipalKind(enum.StrEnum):
    HOLDER = "holder"
    REPRESENTATIVE = "representative"
    CAREGIVER = "caregiver"
    PROFESSIONAL = "professional"
    REGULATOR = "regulator"
    OPERATOR = "operator"
    APP = "app"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class AppGrant:
    """What an app's access token stands for (ACC-9): the holder's consent to that app for one
    space, and the app as it was when the token was resolved (this request)."""

    consent_id: uuid.UUID
    token_id: uuid.UUID
    space_id: uuid.UUID
    granted_by: uuid.UUID  # the holder who consented (the space's holder or one managing it)
    scopes: frozenset[str]
    consented_version: str
    consented_listing: frozenset[str]
    app_status: str
    app_version: str
    app_listing: frozenset[str]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated actor. `id` is the row id of the holder, professional, operator or app;
    an app's principal also carries its grant (`app_grant`)."""

    kind: PrincipalKind
    id: uuid.UUID
    label: str = ""
    app_grant: AppGrant | None = None

    @property
    def ref(self) -> str:
        """A stable reference for audit entries: ids and codes only, never names."""
        return f"{self.kind.value}/{self.id}"


SYSTEM = Principal(PrincipalKind.SYSTEM, uuid.UUID(int=0), "carnet")
