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
class Principal:
    """An authenticated actor. `id` is the row id of the holder, professional, operator or app."""

    kind: PrincipalKind
    id: uuid.UUID
    label: str = ""

    @property
    def ref(self) -> str:
        """A stable reference for audit entries: ids and codes only, never names."""
        return f"{self.kind.value}/{self.id}"


SYSTEM = Principal(PrincipalKind.SYSTEM, uuid.UUID(int=0), "carnet")
