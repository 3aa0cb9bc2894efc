"""LC-8: after a purge, no trace of the holder's data remains readable anywhere: a marker stored
in every kind of holder data is searched for in every file of the data directory — database and
its WAL, blobs (documents, messages, exports), delivered e-mails (`outbox/`), letter batches
(`letters/`), logs — read as their reader would (PDF text, decoded e-mail, ZIP members), and on
PostgreSQL in every row."""

from __future__ import annotations

import datetime as dt
import logging
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select, text

from carnet import clock
from carnet.access.models import CareRelationship, TimelineSettings
from carnet.accounts import letters, lifecycle, notices, rules
from carnet.accounts import purge as purge_service
from carnet.accounts.models import Holder, Tombstone
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Base, Database
from carnet.documents import changes, deposits
from carnet.export import archive as export_archive
from carnet.export.models import ExportRequest
from carnet.jobs.service import load_jobs, run_due
from carnet.logs import JsonFormatter
from carnet.messaging import conversations
from carnet.messaging.context import Context, NewAttachment, NewConversation, NewMessage
from carnet.messaging.models import Attachment, Conversation
from carnet.notifications.models import OutboxMessage
from carnet.notifications.service import deliver_pending
from carnet.profile.models import MeasurementTarget
from carnet.vault.service import Vault
from tests.conftest import ON_POSTGRES
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder, make_professional
from tests.notifications.support import eml_text, mail_text

MARKER = "Zqxjvmarker"


def _otp(database: Database) -> str:
    with database.transaction() as session:
        mail = session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.created_at.desc())
        ).first()
    assert mail is not None
    body = mail_text(mail)
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
        deposits.deposit(
            session,
            vault,
            settings,
            me,
            holder,
            deposits.NewDocument(
                content=f"note {MARKER}\n".encode(),
                title=f"titre {MARKER}",
                declared_type="text/plain",
                category="AUTR_DOC",
                source="holder",
                original_name=f"{MARKER}.txt",
            ),
        )
        pro = Principal(PrincipalKind.PROFESSIONAL, make_professional(session).id)
        deposits.deposit(
            session,
            vault,
            settings,
            pro,
            holder,
            deposits.NewDocument(
                content=pdf_bytes(MARKER),
                title=f"CR {MARKER}",
                declared_type="application/pdf",
                type_code="11502-2",
            ),
        )
        folder = changes.create_folder(session, vault, holder, me, f"dossier {MARKER}")
        assert folder.id
        # SRV-1: a conversation whose subject, text and attachment carry the marker.
        session.add(
            CareRelationship(holder_id=holder.id, professional_id=pro.id, status="authorised")
        )
        session.flush()
        conversations.start(
            Context(session, vault, settings, pro),
            holder,
            NewConversation(
                subject=f"objet {MARKER}",
                message=NewMessage(
                    body=f"message {MARKER}",
                    attachments=[NewAttachment(f"pj {MARKER}\n".encode(), f"{MARKER}.txt")],
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
    # SRV-5: an export built; LC-1: the letter rendered for the print service; the notices
    # delivered (with no SMTP server: `.eml` copies in the data directory).
    assert client.post("/api/v1/me/export", headers=auth).status_code == 202
    assert export_archive.build_pending(database, settings).startswith("built 1")
    assert letters.render_all(database, vault, settings).letters == 1
    deliver_pending(database, settings)
    closed = client.post("/api/v1/me/close", headers=auth, json={"purge": True})
    assert closed.status_code == 200, closed.text
    return nir


def _readable(path: Path) -> bytes:
    """The file as bytes and as its reader sees it: a PDF's text (its streams are compressed),
    an e-mail's decoded body (quoted-printable, base64), a ZIP's members."""
    data = path.read_bytes()
    views = [data]
    if data.startswith(b"%PDF"):
        views += [(page.extract_text() or "").encode() for page in PdfReader(path).pages]
    elif path.suffix == ".eml":
        views.append(eml_text(data).encode())
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            views += [archive.read(name) for name in archive.namelist()]
    return b"\n".join(views).lower()


def _files(settings: Settings) -> list[Path]:
    """Every file under the data directory (the SQLite database and its WAL live there too)."""
    return sorted(p for p in settings.data_dir.rglob("*") if p.is_file())


def _holding(settings: Settings, needle: bytes) -> list[str]:
    return [
        str(p.relative_to(settings.data_dir)) for p in _files(settings) if needle in _readable(p)
    ]


@contextmanager
def _logs_kept_in(directory: Path) -> Iterator[None]:
    """Carnet's log lines (JSON, every level) also written into the data directory, as an
    operator who sends stderr to a file would keep them."""
    directory.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(directory / "carnet.log", encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def test_lc8_purge_leaves_nothing_readable(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    needle = MARKER.lower().encode()
    with _logs_kept_in(settings.data_dir / "logs"):
        nir = _store_everything(client, database, vault, settings)
        # The marker is really there before the purge, where Carnet keeps it readable: the
        # delivered e-mails, the letter batch, the traits in the database.
        before = _holding(settings, needle)
        assert {name.split("/")[0] for name in before} >= {"outbox", "letters"}
        assert ON_POSTGRES or any(name.startswith("carnet.db") for name in before)
        load_jobs()
        outcomes = run_due(database, settings, as_of=clock.today())
        assert [o for o in outcomes if o.status == "failed"] == []
    with database.transaction() as session:
        assert session.scalars(select(Holder).where(Holder.nir == nir)).first() is None
        assert purge_service.is_tombstoned(session, vault, nir)
        assert session.scalars(select(Tombstone)).one().reason == "holder-request"
        assert session.scalars(select(Conversation)).first() is None  # SRV-1 rows go too
        assert session.scalars(select(Attachment)).first() is None
        for table in ("appointments", "appointment_reminders", "agenda_settings"):  # SRV-2
            assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        assert session.scalars(select(MeasurementTarget)).all() == []  # issue 7 targets go too
        assert session.scalars(select(TimelineSettings)).all() == []  # issue 7 item 4
        assert session.scalars(select(ExportRequest)).all() == []  # SRV-5
        assert session.scalars(select(OutboxMessage)).all() == []
    assert [p for p in settings.effective_blob_dir.rglob("*") if p.is_file()] == []
    assert list(settings.outbox_dir.glob("*.eml")) == []
    assert list((settings.data_dir / "letters").iterdir()) == []
    assert (settings.data_dir / "logs" / "carnet.log").stat().st_size > 0
    assert _holding(settings, needle) == []
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
