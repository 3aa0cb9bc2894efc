"""Every line of a space in one read (SRV-4, SRV-5, ACC-8): what the export and the timeline use."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select

from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import Forbidden
from carnet.reimbursements import service
from carnet.reimbursements.models import PURPOSE, Reimbursement
from carnet.vault.service import Vault
from tests.factories import make_holder, make_professional


def _lines(database: Database, vault: Vault, count: int) -> uuid.UUID:
    with database.transaction() as session:
        holder = make_holder(session)
        for n in range(count):
            row_id = uuid.uuid4()
            data = {"act_code": f"A{n}", "act_label": f"Acte {n}", "professional_rpps": None,
                    "amount_charged": "30.00", "amount_reimbursed": "21.00"}  # fmt: skip
            session.add(
                Reimbursement(
                    id=row_id, holder_id=holder.id, line_key=f"{holder.id}-{n}",
                    care_date=dt.date(2026, 1, 1 + n % 3), payment_date=dt.date(2026, 2, 1),
                    sealed=vault.seal_text(session, holder.id, row_id, PURPOSE, json.dumps(data)),
                )
            )  # fmt: skip
        return holder.id


def test_every_line_once_newest_first_across_chunks(
    database: Database, vault: Vault, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder_id = _lines(database, vault, 7)
    monkeypatch.setattr(service, "STREAM_CHUNK", 2)  # 7 lines: four chunks, ties on dates
    owner = Principal(PrincipalKind.HOLDER, holder_id)
    with database.transaction() as session:
        holder = session.get(service.Holder, holder_id)
        assert holder is not None
        streamed = list(service.every_line(session, vault, settings, owner, holder))
        paged = service.list_reimbursements(session, vault, settings, owner, holder).items
    assert [line.id for line in streamed] == [line.id for line in paged]
    assert len({line.id for line in streamed}) == 7
    assert [line.care_date for line in streamed] == sorted(
        (line.care_date for line in streamed), reverse=True
    )
    with database.transaction() as session:
        reads = session.scalars(
            select(AuditEntry.target_id).where(
                AuditEntry.holder_id == holder_id, AuditEntry.action == service.ACTION_READ
            )
        ).all()
    # One entry for the whole stream (with the count), one for the page read beside it.
    assert sorted(reads) == ["7/7", "7/7"]


def test_a_professional_reads_no_line(database: Database, vault: Vault, settings: Settings) -> None:
    holder_id = _lines(database, vault, 2)
    with database.transaction() as session:
        pro = make_professional(session)
        holder = session.get(service.Holder, holder_id)
        assert holder is not None
        with pytest.raises(Forbidden):
            list(
                service.every_line(
                    session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, pro.id), holder
                )
            )
