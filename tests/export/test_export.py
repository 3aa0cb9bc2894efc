"""Health history, summary PDF and "download all my data" (issue 7 items 4-6; rules SRV-5,
ACC-7, REP-2, ACC-8)."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder, Representation
from carnet.agenda import service as agenda
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database, new_id
from carnet.documents import deposits
from carnet.documents import service as documents
from carnet.export import archive as export_archive
from carnet.export import service
from carnet.export.models import ExportRequest
from carnet.messaging import conversations
from carnet.messaging.context import Context, NewAttachment, NewConversation, NewMessage
from carnet.notifications.models import OutboxMessage
from carnet.profile import measurements as measures
from carnet.profile import service as profile
from carnet.reimbursements.models import PURPOSE as REIMBURSEMENT_PURPOSE
from carnet.reimbursements.models import Reimbursement
from carnet.vault.service import Vault
from tests.accounts.test_family import headers_for
from tests.agenda.support import body as appointment
from tests.documents.helpers import pdf_bytes
from tests.documents.test_cda import BIO, LEVEL1, fixture
from tests.factories import make_holder, make_professional
from tests.fhir.support import schema_errors

API = "/api/v1"
SECRET_TITLE = "ZZSECRET consultation"
# SRV-1: drafts are their author's only; none of these may reach anyone else.
MINOR_DRAFT = "ZZMINORDRAFT"  # the minor's own draft: never to the representative (REP-2)
PRO_DRAFT = "ZZPRODRAFT"  # a professional's draft in the holder's conversation
HOLDER_DRAFT = "Brouillon de la réponse"
HOSTILE_NAME = "../../etc/Résultat final.pdf"  # an attachment name chosen by someone else


def me(holder_id: uuid.UUID) -> Principal:
    return Principal(PrincipalKind.HOLDER, holder_id)


def new_doc(title: str, care_date: dt.date, **overrides: Any) -> deposits.NewDocument:
    values: dict[str, Any] = {
        "content": pdf_bytes(title),
        "title": title,
        "declared_type": "application/pdf",
        "type_code": "11502-2",
        "care_date": care_date,
        "notify": False,
    }
    values.update(overrides)
    return deposits.NewDocument(**values)


def add_reimbursement(
    session: Any, vault: Vault, holder: Holder, care_date: dt.date, label: str
) -> None:
    row = Reimbursement(
        id=new_id(), holder_id=holder.id, line_key=uuid.uuid4().hex, care_date=care_date,
        payment_date=care_date + dt.timedelta(days=3), sealed=b"",
    )  # fmt: skip
    data = {"act_code": "G", "act_label": label, "professional_rpps": None,
            "amount_charged": "30.00", "amount_reimbursed": "20.00"}  # fmt: skip
    row.sealed = vault.seal_text(
        session, holder.id, row.id, REIMBURSEMENT_PURPOSE, json.dumps(data)
    )
    session.add(row)


@dataclass(frozen=True)
class World:
    parent_id: uuid.UUID
    child_id: uuid.UUID
    secret_id: uuid.UUID
    gp_id: uuid.UUID  # in both care teams: writes to both, books an appointment for the parent
    attachment: bytes  # the GP's attachment in the parent's conversation


def _mail_and_agenda(
    session: Any, vault: Vault, settings: Settings, parent: Holder, child: Holder
) -> tuple[uuid.UUID, bytes]:
    """SRV-1 and SRV-2 data, through the services: the GP writes to the parent (with an attachment
    named by someone else) and to the minor; the parent replies and keeps a draft; the GP and the
    minor keep drafts of their own; appointments by the parent and by the GP; a measurement target;
    the prevention calendar switched off."""
    gp = make_professional(session)
    for space in (parent, child):
        session.add(CareRelationship(holder_id=space.id, professional_id=gp.id,
                                     status="authorised"))  # fmt: skip
    session.flush()
    as_gp = Context(session, vault, settings, Principal(PrincipalKind.PROFESSIONAL,
                                                                  gp.id))  # fmt: skip
    as_parent = Context(session, vault, settings, me(parent.id))
    as_child = Context(session, vault, settings, me(child.id))
    content = pdf_bytes("Pièce jointe du GP")
    first = NewMessage(
        body="Vos résultats sont joints.",
        attachments=[NewAttachment(content, HOSTILE_NAME, "application/pdf")],
    )
    talk, _ = conversations.start(as_gp, parent, NewConversation("Résultats", first))
    conversations.reply(as_parent, talk.id, NewMessage(body="Merci."), space=parent)
    conversations.reply(as_parent, talk.id, NewMessage(body=HOLDER_DRAFT, draft=True),
                    space=parent)  # fmt: skip
    conversations.reply(as_gp, talk.id, NewMessage(body=PRO_DRAFT, draft=True))
    minor_talk, _ = conversations.start(
        as_gp, child, NewConversation("Vaccin", NewMessage(body="Rappel DTP"))
    )
    conversations.reply(as_child, minor_talk.id, NewMessage(body=MINOR_DRAFT, draft=True),
                    space=child)  # fmt: skip
    for principal, space, days in ((me(parent.id), parent, 3), (as_gp.principal, parent, 5),
                                   (me(parent.id), child, 7)):  # fmt: skip
        agenda.create(agenda.context(session, vault, settings, principal, space),
                      appointment(days))  # fmt: skip
    agenda.set_prevention(agenda.context(session, vault, settings, me(parent.id), parent), False)
    ctx = profile.context(session, vault, settings, me(parent.id), parent)
    measures.set_target(ctx, "weight", {"low": 60, "high": 75, "note": "objectif du médecin"})
    return gp.id, content


@pytest.fixture
def world(database: Database, vault: Vault, settings: Settings) -> World:
    """A parent (documents, profile, reimbursements, contacts) managing a 16-year-old who keeps
    one document secret from representatives (REP-2)."""
    with database.transaction() as session:
        parent = make_holder(session, email="parent@example.org", first_names="Alice")
        child = make_holder(
            session, birth_date=clock.today() - dt.timedelta(days=16 * 365), first_names="Léo"
        )
        session.add(Representation(minor_id=child.id, representative_id=parent.id,
                                   representative_nir=parent.nir, role="managing",
                                   status="accepted"))  # fmt: skip
        session.flush()
        author = Principal(PrincipalKind.PROFESSIONAL, make_professional(session).id)
        deposits.deposit(session, vault, settings, author, parent,
                          new_doc("CR biologie", dt.date(2025, 3, 10)))  # fmt: skip
        deposits.deposit(session, vault, settings, author, parent,
                          new_doc("CR radio", dt.date(2024, 6, 1)))  # fmt: skip
        deposits.deposit(session, vault, settings, author, child,
                          new_doc("CR ouvert", dt.date(2025, 1, 5)))  # fmt: skip
        secret = deposits.deposit(
            session, vault, settings, author, child,
            new_doc(SECRET_TITLE, dt.date(2025, 2, 5), invisible_to_representatives=True),
        )  # fmt: skip
        ctx = profile.context(session, vault, settings, me(parent.id), parent)
        profile.create_entry(
            ctx, "vaccination", {"vaccine": "DTP", "date": "2025-03-02", "dose_number": 2}
        )
        profile.create_entry(
            ctx,
            "hospital_stay",
            {"place": "CHU de Nantes", "from": "2023-05-01", "to": "2023-05-04"},
        )
        profile.create_entry(
            ctx, "illness", {"label": "Asthme", "status": "current", "since": "2010-01-01"}
        )
        profile.create_entry(ctx, "allergy", {"substance": "Pénicilline", "severity": "severe"})
        profile.create_entry(ctx, "blood_group", {"value": "O+"})
        profile.create_entry(
            ctx, "measurement", {"kind": "weight", "value": 70, "date": "2025-01-01"}
        )
        profile.create_entry(
            ctx, "measurement", {"kind": "height", "value": 175, "date": "2025-01-01"}
        )
        profile.create_entry(ctx, "treatment", {"label": "Ventoline", "dosage": "2 bouffées"})
        from carnet.accounts import wishes

        wishes.add_emergency_contact(session, vault, parent,
                                     {"name": "Bruno Martin", "relation": "frère",
                                      "phone": "0612345678"}, me(parent.id))  # fmt: skip
        add_reimbursement(session, vault, parent, dt.date(2025, 3, 10), "Consultation")
        add_reimbursement(session, vault, parent, dt.date(2024, 12, 1), "Radiographie")
        gp_id, attachment = _mail_and_agenda(session, vault, settings, parent, child)
        return World(parent.id, child.id, secret.id, gp_id, attachment)
    # fmt: on


def test_timeline_groups_every_source_newest_first(
    client: TestClient, database: Database, world: World
) -> None:
    answer = client.get(f"{API}/me/timeline", params={"by": "month"},
                        headers=headers_for(database, world.parent_id))  # fmt: skip
    assert answer.status_code == 200, answer.text
    groups = answer.json()["groups"]
    periods = [g["period"] for g in groups]
    assert periods == sorted(periods, reverse=True)
    assert periods[0] == "2025-03"
    march = {(e["category"], e["title"]) for e in groups[0]["entries"]}
    assert march == {("document", "CR biologie"), ("vaccination", "DTP"),
                     ("reimbursement", "Consultation")}  # fmt: skip
    categories = {e["category"] for g in groups for e in g["entries"]}
    assert categories == {"document", "vaccination", "hospital_stay", "illness", "reimbursement"}
    years = client.get(f"{API}/me/timeline", params={"by": "year", "category": "illness"},
                       headers=headers_for(database, world.parent_id)).json()  # fmt: skip
    assert [(g["period"], [e["title"] for e in g["entries"]]) for g in years["groups"]] == [
        ("2010", ["Asthme"])
    ]
    bad = client.get(f"{API}/me/timeline", params={"by": "week"},
                     headers=headers_for(database, world.parent_id))  # fmt: skip
    assert bad.status_code == 400


def test_timeline_of_a_minor_hides_secret_documents_from_the_representative(
    client: TestClient, database: Database, world: World
) -> None:
    """REP-2: the documents.service decides; the secret one never shows."""
    answer = client.get(f"{API}/me/timeline", params={"by": "day"},
                        headers=headers_for(database, world.parent_id, world.child_id))  # fmt: skip
    assert answer.status_code == 200, answer.text
    titles = [e["title"] for g in answer.json()["groups"] for e in g["entries"]]
    assert titles == ["CR ouvert"]
    stranger = client.get(
        f"{API}/me/timeline", headers=headers_for(database, world.child_id, world.parent_id)
    )
    assert stranger.status_code == 404  # a minor does not manage their parent's space


def test_summary_pdf_is_french_and_audited(
    client: TestClient, database: Database, world: World
) -> None:
    answer = client.get(f"{API}/me/summary.pdf", headers=headers_for(database, world.parent_id))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    with database.transaction() as session:
        actions = set(session.scalars(
            select(AuditEntry.action).where(AuditEntry.holder_id == world.parent_id)
        ))  # fmt: skip
    assert {"summary.generate", "profile.read", "wishes.read"} <= actions
    text = _pdf_text(answer.content)
    for expected in ("Synthèse de santé", "Pénicilline", "Ventoline", "Asthme", "DTP", "O+",
                     "Bruno Martin", "Poids", "IMC"):  # fmt: skip
        assert expected in text, expected


def _pdf_text(content: bytes) -> str:
    import zlib

    out = []
    for part in content.split(b"stream")[1:]:
        body = part.split(b"endstream")[0].strip(b"\r\n")
        try:
            out.append(zlib.decompress(body).decode("latin-1"))
        except zlib.error:
            continue
    return "".join(out).replace("\\(", "(").replace("\\)", ")")


def _build(database: Database, settings: Settings) -> str:
    return export_archive.build_pending(database, settings)


def test_export_contains_what_the_holder_may_read_and_nothing_else(
    client: TestClient, database: Database, settings: Settings, world: World
) -> None:
    headers = headers_for(database, world.parent_id)
    started = client.post(f"{API}/me/export", headers=headers)
    assert started.status_code == 202, started.text
    export_id = started.json()["id"]
    assert started.json()["status"] == "pending"
    early = client.get(f"{API}/me/export/{export_id}/download", headers=headers)
    assert early.status_code == 409
    assert _build(database, settings) == "built 1, failed 0, expired 0"
    status = client.get(f"{API}/me/export/{export_id}", headers=headers).json()
    assert status["status"] == "ready" and status["expires_at"]
    got = client.get(f"{API}/me/export/{export_id}/download", headers=headers)
    assert got.status_code == 200, got.text
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    names = archive.namelist()
    folders = {n.split("/")[0] for n in names if "/" in n}
    assert len(folders) == 2 and "mon-espace" in folders  # own space + the managed child
    child_folder = next(f for f in folders if f != "mon-espace")

    with database.transaction() as session:
        expected = {}
        for space_id, folder in ((world.parent_id, "mon-espace"), (world.child_id, child_folder)):
            space = session.get(Holder, space_id)
            assert space is not None
            _total, rows = documents.search(session, settings, me(world.parent_id), space,
                                            documents.SearchQuery(count=500))  # fmt: skip
            expected[folder] = {str(r.id) for r in rows}
    for folder in folders:
        bundle = json.loads(archive.read(f"{folder}/fhir-bundle.json"))
        assert bundle["type"] == "collection"
        assert schema_errors(bundle) == []
        for entry in bundle["entry"]:
            assert schema_errors(entry["resource"]) == [], entry["resource"]["resourceType"]
        refs = {e["resource"]["id"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "DocumentReference"}  # fmt: skip
        assert refs == expected[folder]
        binaries = {e["resource"]["id"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "Binary"}  # fmt: skip
        assert binaries == refs
        files = {n.split("/")[2].split("-")[0] for n in names
                 if n.startswith(f"{folder}/documents/")}  # fmt: skip
        assert len([n for n in names if n.startswith(f"{folder}/documents/")]) == len(refs)
        assert all(n.rsplit(".", 1)[-1] in {"pdf", "xml", "jpg", "png", "txt", "tif", "rtf"}
                   for n in names if n.startswith(f"{folder}/documents/"))  # fmt: skip
        assert {f for f in files} <= {r.split("-")[0] for r in refs}
        assert f"{folder}/historique-des-acces.csv" in names
        assert f"{folder}/synthese.pdf" in names
    # REP-2: the minor's secret document is nowhere in the representative's export, nor the
    # minor's own draft; nobody else's draft is in anyone's (SRV-1).
    assert str(world.secret_id) not in expected[child_folder]
    for name in names:
        data = archive.read(name)
        assert str(world.secret_id).encode() not in data, name
        for secret in (SECRET_TITLE, MINOR_DRAFT, PRO_DRAFT):
            assert secret.encode() not in data, (name, secret)
        assert ".." not in name and "\\" not in name and not name.startswith("/"), name
    child_bundle = json.loads(archive.read(f"{child_folder}/fhir-bundle.json"))
    assert [(c["status"], c["payload"][0]["contentString"]) for c in
            (e["resource"] for e in child_bundle["entry"])
            if c["resourceType"] == "Communication"] == [("completed", "Rappel DTP")]  # fmt: skip
    # SRV-1: the holder's messages (their draft as preparation) and the attachment's bytes, as
    # the attachment endpoint gives them, under messages/ with a safe name (SRV-5).
    own_messages = [e["resource"] for e in json.loads(archive.read("mon-espace/fhir-bundle.json"))
                    ["entry"] if e["resource"]["resourceType"] == "Communication"]  # fmt: skip
    assert sorted(c["status"] for c in own_messages) == ["completed", "completed", "preparation"]
    attached = next(p["contentAttachment"] for c in own_messages for p in c.get("payload", [])
                    if "contentAttachment" in p)  # fmt: skip
    attachment_id = attached["url"].split("/attachments/")[1].split("/")[0]
    files = [n for n in names if n.startswith("mon-espace/messages/")]
    assert files == [f"mon-espace/messages/{attachment_id}-resultat-final.pdf"]
    assert archive.read(files[0]) == world.attachment
    conversation_id = own_messages[0]["identifier"][0]["value"]
    same = client.get(f"{API}/me/conversations/{conversation_id}/attachments/{attachment_id}"
                      "/content", headers=headers)  # fmt: skip
    assert same.status_code == 200 and same.content == world.attachment
    # Issue 7 targets and the SRV-2 switches in the JSON part.
    plain = json.loads(archive.read("mon-espace/profil.json"))
    assert [(t["kind"], t["low"], t["high"]) for t in plain["measurement_targets"]] == [
        ("weight", 60, 75)
    ]
    assert json.loads(archive.read("mon-espace/agenda.json"))["prevention_calendar"] is False
    assert json.loads(archive.read(f"{child_folder}/agenda.json"))["prevention_calendar"] is True
    own = json.loads(archive.read("mon-espace/fhir-bundle.json"))
    kinds = [e["resource"]["resourceType"] for e in own["entry"]]
    assert kinds.count("ExplanationOfBenefit") == 2
    assert kinds.count("Patient") == 1
    assert {"Immunization", "Condition", "AllergyIntolerance", "Observation",
            "MedicationStatement", "RelatedPerson"} <= set(kinds)  # fmt: skip
    assert kinds.count("Communication") == 3 and kinds.count("Appointment") == 2
    # The bundle, without the documents' bytes, is what $everything gives the holder (issue 7).
    everything = client.get(f"/fhir/Patient/{world.parent_id}/$everything",
                            params={"_count": "500"}, headers=headers).json()  # fmt: skip
    exported = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in own["entry"]
                if e["resource"]["resourceType"] != "Binary"}  # fmt: skip
    assert exported == {(e["resource"]["resourceType"], e["resource"]["id"])
                        for e in everything["entry"]}  # fmt: skip
    history = archive.read("mon-espace/historique-des-acces.csv").decode("utf-8")
    assert history.startswith("date,action,mode")
    with database.transaction() as session:
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == export_archive.READY_KIND)
        ).all()
        assert [m.recipient for m in mails] == ["parent@example.org"]
        assert "CR biologie" not in mails[0].body_text
        actions = list(session.scalars(
            select(AuditEntry.action).where(AuditEntry.holder_id == world.parent_id)
        ))  # fmt: skip
        assert "export.request" in actions and "export.download" in actions
        row = session.get(ExportRequest, uuid.UUID(export_id))
        assert row is not None and row.blob_id is not None
    # Stored encrypted: the raw blob is not a ZIP.
    raw = next(p for p in settings.effective_blob_dir.rglob(row.blob_id + "*") if p.is_file())
    assert not raw.read_bytes().startswith(b"PK")


def test_export_is_the_requesters_only_and_expires(
    client: TestClient, database: Database, settings: Settings, world: World
) -> None:
    headers = headers_for(database, world.parent_id)
    export_id = client.post(f"{API}/me/export", headers=headers).json()["id"]
    _build(database, settings)
    other = headers_for(database, world.child_id)
    assert client.get(f"{API}/me/export/{export_id}", headers=other).status_code == 404
    assert client.get(f"{API}/me/export/{export_id}/download", headers=other).status_code == 404
    later = clock.now() + service.export_ttl(settings) + dt.timedelta(minutes=1)
    with clock.frozen_at(later):
        late_headers = headers_for(database, world.parent_id)
        assert (
            client.get(f"{API}/me/export/{export_id}", headers=late_headers).json()["status"]
            == "expired"
        )
        gone = client.get(f"{API}/me/export/{export_id}/download", headers=late_headers)
        assert gone.status_code == 404
        assert _build(database, settings) == "built 0, failed 0, expired 1"
    with database.transaction() as session:
        row = session.get(ExportRequest, uuid.UUID(export_id))
        assert row is not None and row.status == "expired" and row.blob_id is None


def test_export_needs_a_holder(client: TestClient, database: Database) -> None:
    with database.transaction() as session:
        pro = make_professional(session)
    from tests.profile.support import bearer

    headers = bearer(database, Principal(PrincipalKind.PROFESSIONAL, pro.id))
    assert client.post(f"{API}/me/export", headers=headers).status_code == 403
    assert client.get(f"{API}/me/timeline", headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        (HOSTILE_NAME, "resultat-final.pdf"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("..", "x"),
        ("", "x"),
        (".bashrc", "x.bashrc"),
        ("ordonnance", "ordonnance"),
        ("scan 2025.PDF ", "scan-2025.pdf"),
        ("a" * 300 + ".png", "a" * 80 + ".png"),
    ],
)
def test_attachment_names_are_made_safe_for_the_zip(given: str, safe: str) -> None:
    """SRV-5: a name chosen by someone else never climbs out of `messages/` nor breaks a tool."""
    assert export_archive.safe_file_name(given) == safe


def test_a_minors_secret_document_never_becomes_an_attachment(
    client: TestClient, database: Database, settings: Settings, world: World
) -> None:
    """REP-2 through messaging (SRV-1): the holder side, representatives included, reads every
    message of the minor's space, so the secret document cannot be attached; the refusal is
    audited and nothing is written; the representative's export stays without it (SRV-5)."""
    minor = headers_for(database, world.child_id)
    talks = client.get(f"{API}/me/conversations", headers=minor).json()
    assert [t["subject"] for t in talks] == ["Vaccin"]
    refused = client.post(f"{API}/me/conversations/{talks[0]['id']}/messages", headers=minor,
                          json={"body": "Voici", "document_ids": [str(world.secret_id)]})  # fmt: skip
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "invisible-to-representatives"
    assert SECRET_TITLE not in refused.text
    with database.transaction() as session:
        denied = session.scalars(select(AuditEntry.reason).where(
            AuditEntry.holder_id == world.child_id,
            AuditEntry.action == "message.send-denied")).all()  # fmt: skip
    assert denied == ["invisible-to-representatives"]
    parent = headers_for(database, world.parent_id)
    child_view = client.get(f"{API}/me/conversations/{talks[0]['id']}",
                            headers={**parent, "X-Carnet-Space": str(world.child_id)})  # fmt: skip
    assert child_view.status_code == 200, child_view.text
    assert [m["attachments"] for m in child_view.json()["messages"]] == [[]]


def test_summary_pdf_gives_the_latest_structured_reports_narrative(
    client: TestClient, database: Database, vault: Vault, settings: Settings, world: World
) -> None:
    """Issue 16 item 5: a level-3 CDA's sections and table rows as text; a level-1 CDA by its
    title only (its PDF is not appended: the summary appends no file); each read audited."""
    with database.transaction() as session:
        author = Principal(PrincipalKind.PROFESSIONAL, make_professional(session).id)
        parent = session.get(Holder, world.parent_id)
        assert parent is not None
        ids = [
            deposits.deposit(session, vault, settings, author, parent, new_doc(
                title, dt.date(2025, 4, 1), content=fixture(name), declared_type=None,
            )).id
            for title, name in (("Bilan thyroïdien", BIO), ("Compte rendu scanné", LEVEL1))
        ]  # fmt: skip
    answer = client.get(f"{API}/me/summary.pdf", headers=headers_for(database, world.parent_id))
    assert answer.status_code == 200, answer.text
    text = _pdf_text(answer.content)
    for expected in ("Derniers comptes rendus structurés", "Bilan thyroïdien (01/04/2025)",
                     "BIOCHIMIE", "Thyroxine libre (FT4) (ECL Modular) | 7.67 pg/ml",
                     "Compte rendu scanné (01/04/2025)", "Document joint (PDF ou image)"):  # fmt: skip
        assert expected in text, expected
    assert "CR biologie" not in text  # a PDF document is not a structured report
    with database.transaction() as session:
        read = set(session.scalars(
            select(AuditEntry.target_id).where(AuditEntry.action == "document.download")
        ))  # fmt: skip
    assert {str(i) for i in ids} <= read
