"""Every channel that hands out document bytes or metadata goes through the decision point
(issue 12; rules ACC-1, DOC-3, DOC-4, REP-2, ACC-8, ACC-9, SRV-1, SRV-2, SRV-5, LC-3).

One space (a minor, so that REP-2 and DOC-4 have a representative to keep things from), one row
per channel: a reader, a document they may read and one they may not (masked by the holder,
MASQUE_PS from the author, a profession the matrix keeps out, kept from representatives, awaiting
its announcement, masked after it was copied into a message, MASQUE_PS from a DMP medium). Each row
shows that the channel hands out the first and not the second, and that the reading left an audit
entry in the space's history. The iCalendar feed hands out no document at all.

Documents are recognised by their id or their title anywhere in what the channel gives (JSON,
HTML, a ZIP's names and bytes, an attachment's name).
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder, Professional, Representation
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import deposits, migration
from carnet.documents.fhir import VISIBILITY_SYSTEM
from carnet.documents.models import Document
from carnet.export import archive as export_archive
from carnet.vault.service import Vault
from tests.accounts.test_family import headers_for
from tests.apps.support import add_app, app_token
from tests.documents import xdm_factory as xf
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder, make_professional
from tests.fhir.support import document_reference
from tests.messaging.support import token
from tests.portal.support import csrf_of
from tests.portal.test_pro_pages import make_pro, pro_log_in

API = "/api/v1"
PSYCHIATRIC_SUMMARY = "68599-0"  # sensitivity "psy": midwives (50) may not read it (ACC-1)


@dataclass
class Space:
    child_id: uuid.UUID
    nir: str
    parent: dict[str, str]  # the representative, acting on the child's space
    gp: dict[str, str]
    nurse: dict[str, str]
    nurse_row: Professional
    midwife: dict[str, str]
    principals: dict[str, uuid.UUID] = field(default_factory=dict)
    docs: dict[str, uuid.UUID] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    conversation: dict[str, Any] = field(default_factory=dict)


def _deposit(database: Database, vault: Vault, settings: Settings, s: Space, key: str,
             **new: Any) -> None:  # fmt: skip
    title = f"ZZ-{key.upper()}-{uuid.uuid4().hex[:6]}"
    values: dict[str, Any] = {
        "content": pdf_bytes(title), "title": title, "declared_type": "application/pdf",
        "type_code": "11502-2", "notify": False,
    }  # fmt: skip
    values.update(new)
    with database.transaction() as session:
        doc = deposits.deposit(
            session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, s.principals["gp"]),
            session.get(Holder, s.child_id),  # type: ignore[arg-type]
            deposits.NewDocument(**values),
        )  # fmt: skip
        s.docs[key], s.titles[key] = doc.id, title


def _xdm(database: Database, vault: Vault, settings: Settings, s: Space, tmp: Path) -> None:
    """LC-3, DOC-2: a DMP medium with one plain document and one labelled MASQUE_PS."""
    plain = xf.FakeDocument(title=f"ZZ-XDMOK-{uuid.uuid4().hex[:6]}")
    masked = xf.FakeDocument(
        title=f"ZZ-XDMMASKED-{uuid.uuid4().hex[:6]}", confidentiality=[xf.N, xf.MASKED]
    )
    medium = xf.FakeMedium([xf.FakeSubset("SUBSET01", s.nir, [plain, masked])])
    summary = migration.import_media(
        database, vault, settings, [medium.write_zip(tmp / "dmp.zip")], migration.Options()
    )
    assert [r.outcome for r in summary.rows if r.entry] == ["imported", "imported"], summary.rows
    with database.transaction() as session:
        for key, fake in (("xdm_ok", plain), ("xdm_masked", masked)):
            found = session.scalar(
                select(Document).where(Document.master_identifier == f"urn:oid:{fake.unique_id}")
            )
            assert found is not None
            s.docs[key], s.titles[key] = found.id, fake.title
    assert s.docs  # both imported


@pytest.fixture
def space(
    client: TestClient, database: Database, vault: Vault, settings: Settings, tmp_path: Path
) -> Space:
    with database.transaction() as session:
        child = make_holder(session, birth_date=dt.date(2016, 5, 1), first_names="Léa",
                            ins_qualified=True)  # fmt: skip
        parent = make_holder(session, email="parent@example.org")
        session.add(Representation(minor_id=child.id, representative_id=parent.id,
                                   representative_nir=parent.nir, role="managing",
                                   status="accepted"))  # fmt: skip
        gp = make_professional(session, name="Dr Martin")
        midwife = make_professional(session, profession_code="50", name="Sage-femme Lune")
        gp_id, midwife_id, child_id, nir = gp.id, midwife.id, child.id, child.nir
        gp_rpps, parent_id = gp.rpps, parent.id
    nurse = make_pro(database, profession_code="60", name="Infirmière Durand")
    with database.transaction() as session:
        for pro_id in (gp_id, nurse.id, midwife_id):
            session.add(CareRelationship(holder_id=child_id, professional_id=pro_id,
                                         status="authorised"))  # fmt: skip
        s = Space(
            child_id=child_id, nir=nir,
            parent=headers_for(database, parent_id, child_id),
            gp=token(session, PrincipalKind.PROFESSIONAL, gp_id),
            nurse=token(session, PrincipalKind.PROFESSIONAL, nurse.id),
            nurse_row=nurse,
            midwife=token(session, PrincipalKind.PROFESSIONAL, midwife_id),
            principals={"gp": gp_id, "nurse": nurse.id, "midwife": midwife_id,
                        "parent": parent_id},
        )  # fmt: skip
    _deposit(database, vault, settings, s, "ok")
    _deposit(database, vault, settings, s, "masked", masked=True)
    _deposit(database, vault, settings, s, "psy", type_code=PSYCHIATRIC_SUMMARY)
    _deposit(database, vault, settings, s, "secret", invisible_to_representatives=True)
    _deposit(database, vault, settings, s, "awaiting", invisible_to_patient=True)
    _deposit(database, vault, settings, s, "later")
    # DOC-3: the author's MASQUE_PS label, through MHD.
    title = f"ZZ-MASQUEPS-{uuid.uuid4().hex[:6]}"
    label = {"coding": [{"system": VISIBILITY_SYSTEM, "code": "MASQUE_PS"}]}
    created = client.post(
        "/fhir/DocumentReference", headers=s.gp,
        json=document_reference(nir, gp_rpps, content=pdf_bytes(title), title=title,
                                securityLabel=[label]),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    s.docs["masque_ps"], s.titles["masque_ps"] = uuid.UUID(created.json()["id"]), title
    # SRV-1: the GP copies two readable documents to the nurse; the holder side masks one later.
    sent = client.post(
        f"{API}/pro/conversations", headers=s.gp,
        json={"patient_id": str(child_id), "subject": "Suivi", "body": "Pour information",
              "cc": [nurse.rpps], "document_ids": [str(s.docs["ok"]), str(s.docs["later"])]},
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    s.conversation = sent.json()
    masked = client.patch(
        f"{API}/me/documents/{s.docs['later']}", headers=s.parent, json={"masked": True}
    )
    assert masked.status_code == 200, masked.text
    _xdm(database, vault, settings, s, tmp_path)
    return s


# -- the channels: each returns everything it handed out, as text -----------------------------


def _fhir_search(client: TestClient, s: Space, who: str) -> str:
    return client.get(
        f"/fhir/DocumentReference?patient={s.child_id}&_count=100", headers=getattr(s, who)
    ).text


def _binary(client: TestClient, s: Space, who: str, keys: tuple[str, str]) -> str:
    out = []
    for key in keys:
        got = client.get(f"/fhir/Binary/{s.docs[key]}", headers=getattr(s, who))
        out.append(f"{s.docs[key]}" if got.status_code == 200 else got.text)
    return "\n".join(out)


def _everything(client: TestClient, s: Space, who: str) -> str:
    return client.get(f"/fhir/Patient/{s.child_id}/$everything", headers=getattr(s, who)).text


def _timeline(client: TestClient, s: Space, who: str) -> str:
    return client.get(f"{API}/pro/patients/{s.child_id}/timeline", headers=getattr(s, who)).text


def _my_documents(client: TestClient, s: Space) -> str:
    listed = client.get(f"{API}/me/documents?count=100", headers=s.parent).text
    contents = [
        f"{doc_id}"
        for doc_id in s.docs.values()
        if client.get(f"{API}/me/documents/{doc_id}/content", headers=s.parent).status_code == 200
    ]
    return listed + "\n".join(contents)


def _export(client: TestClient, database: Database, settings: Settings, s: Space) -> str:
    """The parent's export holds every space they manage (REP-1): it takes no space header."""
    own = {k: v for k, v in s.parent.items() if k.lower() != "x-carnet-space"}
    started = client.post(f"{API}/me/export", headers=own)
    assert started.status_code == 202, started.text
    assert export_archive.build_pending(database, settings).startswith("built 1")
    got = client.get(f"{API}/me/export/{started.json()['id']}/download", headers=own)
    assert got.status_code == 200, got.text
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    return "\n".join(
        name + "\n" + archive.read(name).decode("latin-1") for name in archive.namelist()
    )


def _messaging(client: TestClient, s: Space) -> str:
    cid = s.conversation["id"]
    view = client.get(f"{API}/pro/conversations/{cid}", headers=s.nurse).text
    out = [view]
    for item in s.conversation["messages"][0]["attachments"]:
        got = client.get(
            f"{API}/pro/conversations/{cid}/attachments/{item['id']}/content", headers=s.nurse
        )
        if got.status_code == 200:
            out.append(item["name"])
    return "\n".join(out)


def _ical(client: TestClient, s: Space) -> str:
    feed = client.post(f"{API}/me/agenda/feed", headers=s.parent)
    assert feed.status_code == 201, feed.text
    path = "/ical/" + feed.json()["url"].rsplit("/ical/", 1)[1]
    got = client.get(path)
    assert got.status_code == 200
    return got.text


def _app(client: TestClient, database: Database, s: Space) -> str:
    """ACC-9: an app the representative connected reads as the representative (REP-2)."""
    scopes = ["launch/patient", "patient/DocumentReference.rs"]
    add_app(database, scopes=scopes)
    access = app_token(database, s.child_id, scopes, granted_by=s.principals["parent"])
    headers = {"Authorization": f"Bearer {access}"}
    listed = client.get(f"/fhir/DocumentReference?patient={s.child_id}", headers=headers).text
    contents = [
        f"{doc_id}"
        for doc_id in s.docs.values()
        if client.get(f"/fhir/Binary/{doc_id}", headers=headers).status_code == 200
    ]
    return listed + "\n".join(contents)


def _portal(client: TestClient, database: Database, s: Space) -> str:
    """The professional's patient page in the portal (ACC-1, DOC-3)."""
    pro_log_in(client, database, s.nurse_row)
    page = client.get("/pro")
    found = client.post("/pro/find", data={"csrf_token": csrf_of(page.text), "nir": s.nir},
                        follow_redirects=False)  # fmt: skip
    assert found.status_code == 303, found.text
    patient = client.get("/pro/patient").text
    downloads = [
        f"{doc_id}"
        for doc_id in s.docs.values()
        if client.get(f"/pro/documents/{doc_id}/content").status_code == 200
    ]
    return patient + "\n".join(downloads)


@dataclass(frozen=True)
class Row:
    channel: str
    reader: str  # a key of Space.principals (the audited actor)
    may: str | None  # a document key the reader may read (None: the channel hands out none)
    may_not: str
    rule: str
    fetch: Callable[[TestClient, Database, Settings, Space], str]


ROWS = [
    Row("FHIR DocumentReference search (MHD)", "nurse", "ok", "masked", "DOC-3",
        lambda c, d, st, s: _fhir_search(c, s, "nurse")),
    Row("FHIR search, author's MASQUE_PS label", "nurse", "ok", "masque_ps", "DOC-3",
        lambda c, d, st, s: _fhir_search(c, s, "nurse")),
    Row("FHIR Binary (content)", "midwife", "ok", "psy", "ACC-1",
        lambda c, d, st, s: _binary(c, s, "midwife", ("ok", "psy"))),
    Row("$everything", "midwife", "ok", "psy", "ACC-1",
        lambda c, d, st, s: _everything(c, s, "midwife")),
    Row("$everything", "nurse", "ok", "masked", "DOC-3",
        lambda c, d, st, s: _everything(c, s, "nurse")),
    Row("timeline (health history)", "nurse", "ok", "masked", "DOC-3",
        lambda c, d, st, s: _timeline(c, s, "nurse")),
    Row("holder documents API, representative", "parent", "ok", "secret", "REP-2",
        lambda c, d, st, s: _my_documents(c, s)),
    Row("holder documents API, announcement", "parent", "ok", "awaiting", "DOC-4",
        lambda c, d, st, s: _my_documents(c, s)),
    Row("export ZIP (download all my data)", "parent", "ok", "secret", "REP-2",
        lambda c, d, st, s: _export(c, d, st, s)),
    Row("export ZIP (download all my data)", "parent", "ok", "awaiting", "DOC-4",
        lambda c, d, st, s: _export(c, d, st, s)),
    Row("messaging, copy masked after it was sent", "nurse", "ok", "later", "DOC-3",
        lambda c, d, st, s: _messaging(c, s)),
    Row("iCalendar feed", "parent", None, "ok", "SRV-2",
        lambda c, d, st, s: _ical(c, s)),
    Row("app connected by the representative", "parent", "ok", "secret", "ACC-9",
        lambda c, d, st, s: _app(c, d, s)),
    Row("portal, professional's patient page", "nurse", "ok", "masked", "DOC-3",
        lambda c, d, st, s: _portal(c, d, s)),
    Row("DMP medium (XDM) with MASQUE_PS, then read", "nurse", "xdm_ok", "xdm_masked", "DOC-2",
        lambda c, d, st, s: _fhir_search(c, s, "nurse")),
]  # fmt: skip


def _audited(database: Database, actor_id: uuid.UUID, space_id: uuid.UUID, since: int) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.holder_id == space_id,
                    AuditEntry.actor_id == str(actor_id),
                    AuditEntry.seq > since,
                )
            )
            or 0
        )


def _last_seq(database: Database, space_id: uuid.UUID) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.holder_id == space_id))
            or 0
        )


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.rule}:{r.channel}:{r.may_not}" for r in ROWS])
def test_every_channel_hands_out_only_what_the_decision_point_allows(
    client: TestClient, database: Database, settings: Settings, space: Space, row: Row
) -> None:
    """ACC-1, DOC-3, DOC-4, REP-2, ACC-9, SRV-1, SRV-5 (and ACC-8: the reading is audited)."""
    since = _last_seq(database, space.child_id)
    handed_out = row.fetch(client, database, settings, space)

    def shows(key: str) -> bool:
        return str(space.docs[key]) in handed_out or space.titles[key] in handed_out

    if row.may is not None:
        assert shows(row.may), f"{row.channel} withholds a document {row.reader} may read"
    else:
        assert not any(shows(key) for key in space.docs), f"{row.channel} hands out documents"
    assert not shows(row.may_not), f"{row.channel} leaks {row.may_not} to {row.reader}"
    actor = space.principals[row.reader]
    assert _audited(database, actor, space.child_id, since) > 0, f"{row.channel}: not audited"
