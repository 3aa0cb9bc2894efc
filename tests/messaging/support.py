"""The people of the messaging tests: a holder, their GP (care team), a pharmacy that dispensed to
them (it deposited a document), one that did not, a physician outside the care team; with tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder, Professional
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import deposits
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder, make_professional

TTL = dt.timedelta(hours=1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    holder_id: uuid.UUID
    holder: dict[str, str]
    gp_id: uuid.UUID
    gp_rpps: str
    gp: dict[str, str]
    nurse_rpps: str
    nurse: dict[str, str]
    pharmacy_rpps: str
    pharmacy: dict[str, str]
    other_pharmacy_rpps: str
    stranger_rpps: str
    stranger: dict[str, str]
    document_id: uuid.UUID


def token(session: Any, kind: PrincipalKind, row_id: uuid.UUID) -> dict[str, str]:
    value, _ = issue_token(session, Principal(kind, row_id), ttl=TTL)
    return bearer(value)


def in_care(session: Any, holder: Holder, pro: Professional, status: str = "authorised") -> None:
    session.add(CareRelationship(holder_id=holder.id, professional_id=pro.id, status=status))
    session.flush()


def world(database: Database, vault: Vault, settings: Settings, **holder: Any) -> World:
    qualified = holder.pop("ins_qualified", True)
    with database.transaction() as session:
        person = make_holder(session, email="camille@example.org", **holder)
        gp = make_professional(session, email="gp@example.org")
        nurse = make_professional(session, profession_code="60", email="nurse@example.org")
        pharmacy = make_professional(session, profession_code="21", email="pharma@example.org")
        other_pharmacy = make_professional(session, profession_code="21")
        stranger = make_professional(session)
        in_care(session, person, gp)
        in_care(session, person, nurse)
        # SRV-1 "pharmacies they used": this pharmacist deposited a document in the space.
        doc = deposits.deposit(
            session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, pharmacy.id), person,
            deposits.NewDocument(
                content=pdf_bytes("Dispensation"), title="Dispensation",
                declared_type="application/pdf", type_code="11502-2", notify=False,
            ),
        )  # fmt: skip
        person.ins_qualified = qualified  # ID-3 is checked when writing, after this deposit
        return World(
            holder_id=person.id,
            holder=token(session, PrincipalKind.HOLDER, person.id),
            gp_id=gp.id,
            gp_rpps=gp.rpps,
            gp=token(session, PrincipalKind.PROFESSIONAL, gp.id),
            nurse_rpps=nurse.rpps,
            nurse=token(session, PrincipalKind.PROFESSIONAL, nurse.id),
            pharmacy_rpps=pharmacy.rpps,
            pharmacy=token(session, PrincipalKind.PROFESSIONAL, pharmacy.id),
            other_pharmacy_rpps=other_pharmacy.rpps,
            stranger_rpps=stranger.rpps,
            stranger=token(session, PrincipalKind.PROFESSIONAL, stranger.id),
            document_id=doc.id,
        )


def start(client: Any, w: World, **body: Any) -> Any:
    """The GP writes to the holder (SRV-1: a professional writes first)."""
    payload = {"patient_id": str(w.holder_id), "subject": "Vos résultats", "body": "Bonjour"}
    payload.update(body)
    return client.post("/api/v1/pro/conversations", headers=w.gp, json=payload)
