"""LC-8: after a purge, no trace of the holder's data remains readable anywhere: a marker stored
in every kind of holder data is searched for byte by byte in the database and the blob store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from carnet import clock
from carnet.access.models import CareRelationship, TimelineSettings
from carnet.accounts import lifecycle, notices, rules
from carnet.accounts.models import Holder, Tombstone
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Base, Database
from carnet.documents import service as documents
from carnet.jobs.service import load_jobs, run_due
from carnet.messaging import service as messaging
from carnet.messaging.models import Attachment, Conversation
from carnet.notifications.models import OutboxMessage
from carnet.profile.models import MeasurementTarget
from carnet.vault.service import Vault
from tests.conftest import ON_POSTGRES
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder, make_professional

MARKER = "Zqxjvmarker"


def _otp(database: Database) -> str:
    with database.transaction() as session:
        body = session.scalars(
            select(OutboxMessage.body_text).order_by(OutboxMessage.created_at.desc())
        ).first()
    assert body is not None
    return next(word for word in body.split() if word.isdigit() and len(word) == 6)


def _store_everything(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> str:
    """A holder with the marker in every kind of data this service keeps about them."""
    with database.transaction() as session:
        holder = make_holder(
            session,
            state=rules.NOTIFIED,
            birth_name=MARKER.upper(),
            first_names=MARKER,
            postal_address=f"1 rue {MARKER}, 75001 Paris",
            phone="0600000000",
            email=None,
            notified_on=clock.today(),
            opposition_deadline=clock.today() + dt.timedelta(weeks=6),
        )
        nir, birth = holder.nir, holder.birth_date
        code = lifecycle.issue_code(session, vault, settings, holder)
        assert (
            notices.send_notice(session, vault, settings, holder, code, today=clock.today())
            == "letter"
        )
        holder.email = f"{MARKER.lower()}@example.org"
        code = lifecycle.issue_code(session, vault, settings, holder)
        notices.send_notice(session, vault, settings, holder, code, today=clock.today())
    activation = client.post(
        "/api/v1/activation",
        json={
            "nir": nir,
            "code": code,
            "birth_date": birth.isoformat(),
            "username": MARKER.lower(),
            "password": "correct horse battery staple",
            "email": f"{MARKER.lower()}@example.org",
        },
    )
    assert activation.status_code == 201, activation.text
    assert (
        client.post(
            "/api/v1/session", json={"username": MARKER.lower(), "password": "wrong password!!"}
        ).status_code
        == 401
    )
    started = client.post(
        "/api/v1/session",
        json={"username": MARKER.lower(), "password": "correct horse battery staple"},
    )
    token = client.post(
        "/api/v1/session/verify",
        json={
            "challenge": started.json()["challenge"],
            "code": _otp(database),
        },
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert (
        client.put(
            "/api/v1/me/wishes/trusted_person",
            headers=auth,
            json={"name": f"{MARKER} Confiance", "address": MARKER},
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/v1/me/wishes/emergency-contacts",
            headers=auth,
            json={"name": f"{MARKER} Urgence", "relation": "soeur"},
        ).status_code
        == 201
    )
    target = client.put(
        "/api/v1/me/measurement-targets/weight",
        headers=auth,
        json={"low": 60, "high": 70, "note": f"objectif {MARKER}"},
    )
    assert target.status_code == 200, target.text
    hidden = client.put(
        "/api/v1/me/timeline-settings", headers=auth, json={"visible_to_professionals": False}
    )
    assert hidden.status_code == 200, hidden.text
    with database.transaction() as session:
        holder = session.scalars(select(Holder).where(Holder.nir == nir)).one()
        me = Principal(PrincipalKind.HOLDER, holder.id)
        documents.deposit(
            session,
            vault,
            settings,
            me,
            holder,
            documents.NewDocument(
                content=f"note {MARKER}\n".encode(),
                title=f"titre {MARKER}",
                declared_type="text/plain",
                category="AUTR_DOC",
                source="holder",
                original_name=f"{MARKER}.txt",
            ),
        )
        pro = Principal(PrincipalKind.PROFESSIONAL, make_professional(session).id)
        documents.deposit(
            session,
            vault,
            settings,
            pro,
            holder,
            documents.NewDocument(
                content=pdf_bytes(MARKER),
                title=f"CR {MARKER}",
                declared_type="application/pdf",
                type_code="11502-2",
            ),
        )
        folder = documents.create_folder(session, vault, holder, me, f"dossier {MARKER}")
        assert folder.id
        # SRV-1: a conversation whose subject, text and attachment carry the marker.
        session.add(
            CareRelationship(holder_id=holder.id, professional_id=pro.id, status="authorised")
        )
        session.flush()
        messaging.start(
            messaging.Context(session, vault, settings, pro),
            holder,
            messaging.NewConversation(
                subject=f"objet {MARKER}",
                message=messaging.NewMessage(
                    body=f"message {MARKER}",
                    attachments=[
                        messaging.NewAttachment(f"pj {MARKER}\n".encode(), f"{MARKER}.txt")
                    ],
                ),
            ),
        )
    day = (clock.today() + dt.timedelta(days=5)).isoformat()
    appointment = client.post(
        "/api/v1/me/agenda/appointments",
        headers=auth,
        json={"title": f"RDV {MARKER}", "start": f"{day}T10:00", "notes": MARKER},
    )
    assert appointment.status_code == 201, appointment.text
    assert client.post("/api/v1/me/agenda/feed", headers=auth).status_code == 201
    closed = client.post("/api/v1/me/close", headers=auth, json={"purge": True})
    assert closed.status_code == 200, closed.text
    return nir


def _files(settings: Settings, database: Database) -> list[Path]:
    paths = [p for p in settings.effective_blob_dir.rglob("*") if p.is_file()]
    if not ON_POSTGRES:
        db_file = Path(str(database.engine.url.database))
        paths += [p for p in db_file.parent.glob(db_file.name + "*") if p.is_file()]
    return paths


def test_lc8_purge_leaves_nothing_readable(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    nir = _store_everything(client, database, vault, settings)
    needle = MARKER.lower().encode()
    # The marker is really there before the purge (in clear where Carnet keeps traits in clear).
    assert any(needle in p.read_bytes().lower() for p in _files(settings, database)) or (
        ON_POSTGRES and _rows_with_marker(database)
    )
    load_jobs()
    outcomes = run_due(database, settings, as_of=clock.today())
    assert [o for o in outcomes if o.status == "failed"] == []
    with database.transaction() as session:
        assert session.scalars(select(Holder).where(Holder.nir == nir)).first() is None
        assert lifecycle.is_tombstoned(session, vault, nir)
        assert session.scalars(select(Tombstone)).one().reason == "holder-request"
        assert session.scalars(select(Conversation)).first() is None  # SRV-1 rows go too
        assert session.scalars(select(Attachment)).first() is None
        for table in ("appointments", "appointment_reminders", "agenda_settings"):  # SRV-2
            assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        assert session.scalars(select(MeasurementTarget)).all() == []  # issue 7 targets go too
        assert session.scalars(select(TimelineSettings)).all() == []  # issue 7 item 4
    assert [p for p in settings.effective_blob_dir.rglob("*") if p.is_file()] == []
    leaks = [str(p) for p in _files(settings, database) if needle in p.read_bytes().lower()]
    assert leaks == []
    if ON_POSTGRES:  # the server's files are not ours to read: look in every row instead
        assert _rows_with_marker(database) == []


def _rows_with_marker(database: Database) -> list[str]:
    found = []
    with database.transaction() as session:
        for table in Base.metadata.sorted_tables:
            count = session.execute(
                text(f'SELECT count(*) FROM "{table.name}" t WHERE lower(t::text) LIKE :m'),
                {"m": f"%{MARKER.lower()}%"},
            ).scalar()
            if count:
                found.append(table.name)
    return found
