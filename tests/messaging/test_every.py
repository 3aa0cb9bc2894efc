"""Every conversation and attachment of a space in a few statements, for the export and
`$everything` (rules SRV-1, SRV-5, ACC-8, issue 14): `every_conversation` gives exactly what
`list_conversations(full=True, limit=None)` gives, across chunk boundaries; `every_attachment` gives
what `attachment_content` gives each reader, in the order asked, with one audit entry per space.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.audit.models import AuditEntry
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import NotFound
from carnet.messaging import attachments, reading
from carnet.messaging.context import Context
from carnet.messaging.models import Attachment
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.messaging.support import World, start, world

ME = "/api/v1/me/conversations"
PRO = "/api/v1/pro/conversations"


@dataclass
class Scene:
    w: World
    nurse_id: uuid.UUID
    draft_attachment: uuid.UUID  # on the GP's unsent draft: only the GP sees it


def _attach(client: TestClient, w: World, draft: dict[str, Any], name: str) -> str:
    mid = draft["messages"][0]["id"]
    attached = client.post(
        f"{PRO}/{draft['id']}/messages/{mid}/attachments", headers=w.gp,
        files={"file": (name, pdf_bytes(name), "application/pdf")},
    )  # fmt: skip
    assert attached.status_code == 201, attached.text
    return str(attached.json()["attachments"][-1]["id"])


def _scene(client: TestClient, database: Database, w: World) -> Scene:
    """Seven conversations between the holder, their GP and nurse: read receipts, replies, the
    holder's own draft, conversations the holder deleted (one with news since), attachments from
    the device and a copy of a document, and a GP's draft nobody else sees."""
    read = start(client, w, cc=[w.nurse_rpps]).json()["id"]
    client.get(f"{ME}/{read}", headers=w.holder)
    client.post(f"{ME}/{read}/messages", headers=w.holder, json={"body": "Merci"})
    client.post(f"{PRO}/{read}/messages", headers=w.gp, json={"body": "Re"})
    back = start(client, w, body="Ancien").json()["id"]
    assert client.delete(f"{ME}/{back}", headers=w.holder).status_code == 204
    client.post(f"{PRO}/{back}/messages", headers=w.gp, json={"body": "Neuf"})
    gone = start(client, w, body="Effacé").json()["id"]
    assert client.delete(f"{ME}/{gone}", headers=w.holder).status_code == 204
    for name in ("ordonnance.pdf", "resultats.pdf"):
        draft = start(client, w, draft=True, cc=[w.nurse_rpps]).json()
        _attach(client, w, draft, name)
        mid = draft["messages"][0]["id"]
        assert client.post(f"{PRO}/{draft['id']}/messages/{mid}/send", headers=w.gp).is_success
        mine = client.post(
            f"{ME}/{draft['id']}/messages", headers=w.holder,
            json={"body": "Ci-joint", "document_ids": [str(w.document_id)]},
        )  # fmt: skip
        assert mine.status_code == 201, mine.text
    client.post(f"{ME}/{read}/messages", headers=w.holder, json={"body": "Pas fini", "draft": True})
    start(client, w, body="Encore")
    unsent = start(client, w, draft=True).json()
    hidden = _attach(client, w, unsent, "brouillon.pdf")
    return Scene(w, _pro_id(database, w.nurse_rpps), uuid.UUID(hidden))


def _pro_id(database: Database, rpps: str) -> uuid.UUID:
    with database.transaction() as session:
        pro = account_service.professional_by_rpps(session, rpps)
        assert pro is not None
        return pro.id


@pytest.fixture
def scene(client: TestClient, database: Database, vault: Vault, settings: Settings) -> Scene:
    return _scene(client, database, world(database, vault, settings))


def _actions(session: Session, holder_id: uuid.UUID, prefix: str) -> list[tuple[str, str | None]]:
    rows = session.execute(
        select(AuditEntry.action, AuditEntry.reason)
        .where(AuditEntry.holder_id == holder_id, AuditEntry.action.like(f"{prefix}%"))
        .order_by(AuditEntry.at, AuditEntry.seq)
    ).all()
    return [(a, r) for a, r in rows]


def _readers(scene: Scene) -> list[tuple[Principal, bool]]:
    """(principal, reads as the holder side) for the holder, the GP and the nurse."""
    return [
        (Principal(PrincipalKind.HOLDER, scene.w.holder_id), True),
        (Principal(PrincipalKind.PROFESSIONAL, scene.w.gp_id), False),
        (Principal(PrincipalKind.PROFESSIONAL, scene.nurse_id), False),
    ]


def test_srv1_every_conversation_is_the_full_list_across_chunks(
    scene: Scene, database: Database, vault: Vault, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(reading, "STREAM_CHUNK", 2)
    for principal, holder_side in _readers(scene):
        with database.transaction() as session:
            holder = session.get(Holder, scene.w.holder_id)
            assert holder is not None
            ctx = Context(session, vault, settings, principal)
            where = {"space": holder} if holder_side else {"patient": holder}
            listed = reading.list_conversations(ctx, full=True, limit=None, **where)
            before = _actions(session, holder.id, "message.list")
            got = list(reading.every_conversation(ctx, **where))
            after = _actions(session, holder.id, "message.list")
        assert got == listed
        # One entry for the space, the one the listing records.
        assert after[len(before) :] == before[-1:] and before[-1][0] == "message.list"
        if holder_side:
            assert len(got) == 5  # neither the one deleted without news since nor the draft
            bodies = [m.body for c in got for m in c.messages]
            assert "Ancien" not in bodies and "Effacé" not in bodies and "Neuf" in bodies
            assert "Pas fini" in bodies  # the holder's own draft, to them only
            assert any(c.unread for c in got) and any(not c.unread for c in got)
        else:
            assert all("Pas fini" not in [m.body for m in c.messages] for c in got)
        names = [a.name for c in got for m in c.messages for a in m.attachments]
        assert ("brouillon.pdf" in names) == (principal.id == scene.w.gp_id)


def _refs(
    session: Session, vault: Vault, settings: Settings, principal: Principal, holder: Holder,
    holder_side: bool,
) -> list[tuple[uuid.UUID, uuid.UUID]]:  # fmt: skip
    ctx = Context(session, vault, settings, principal)
    where = {"space": holder} if holder_side else {"patient": holder}
    return [
        (c.id, a.id)
        for c in reading.list_conversations(ctx, full=True, limit=None, **where)
        for m in c.messages
        for a in m.attachments
    ]


def test_srv1_every_attachment_gives_what_each_read_gives_in_the_order_asked(
    scene: Scene, database: Database, vault: Vault, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(attachments, "STREAM_CHUNK", 2)
    for principal, holder_side in _readers(scene):
        with database.transaction() as session:
            holder = session.get(Holder, scene.w.holder_id)
            assert holder is not None
            refs = _refs(session, vault, settings, principal, holder, holder_side)
            ctx = Context(session, vault, settings, principal)
            space = holder if holder_side else None
            one_by_one = [
                attachments.attachment_content(ctx, cid, aid, space=space)[1:] for cid, aid in refs
            ]
            before = _actions(session, holder.id, "message.attachment-read")
            asked = [aid for _c, aid in reversed(refs)] + [uuid.uuid4()]
            got = list(attachments.every_attachment(ctx, asked, space=space))
            after = _actions(session, holder.id, "message.attachment-read")
        assert [row.id for row, _n, _c in got] == [aid for _c, aid in reversed(refs)]
        assert [(n, c) for _r, n, c in got] == list(reversed(one_by_one))
        # One entry per attachment read, as each read one by one records it (ACC-8).
        assert sorted(after[len(before) :]) == sorted(
            ("message.attachment-read", f"attachment:{aid}") for _c, aid in refs
        )
        assert len(refs) >= 4  # two device files and two copies, in chunks of two


def test_srv1_every_attachment_leaves_out_what_a_reader_may_not_read(
    scene: Scene, client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        every = [a.id for a in session.scalars(select(Attachment))]
    holder_principal = Principal(PrincipalKind.HOLDER, scene.w.holder_id)
    with database.transaction() as session:
        holder = session.get(Holder, scene.w.holder_id)
        assert holder is not None
        ctx = Context(session, vault, settings, holder_principal)
        got = [row.id for row, _n, _c in attachments.every_attachment(ctx, every, space=holder)]
        with pytest.raises(NotFound):  # what the single read says of the GP's unsent draft
            attachments.attachment_content(
                ctx, _conversation_of(session, scene.draft_attachment), scene.draft_attachment,
                space=holder,
            )  # fmt: skip
    assert scene.draft_attachment in every and scene.draft_attachment not in got
    assert len(got) == len(every) - 1
    # A blocked GP reads none, each conversation's refusal audited as the single read audits it.
    blocked = client.put(
        f"/api/v1/me/professionals/{scene.w.gp_rpps}", headers=scene.w.holder,
        json={"status": "blocked"},
    )  # fmt: skip
    assert blocked.status_code == 200
    with database.transaction() as session:
        ctx = Context(
            session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, scene.w.gp_id)
        )
        before = _actions(session, scene.w.holder_id, "message.attachment-read")
        assert list(attachments.every_attachment(ctx, every)) == []
        after = _actions(session, scene.w.holder_id, "message.attachment-read")
        holder = session.get(Holder, scene.w.holder_id)
        assert holder is not None
        assert list(reading.every_conversation(ctx, patient=holder)) == []
        listed = _actions(session, scene.w.holder_id, "message.list")
    refused = after[len(before) :]
    assert refused and set(refused) == {("message.attachment-read-denied", "blocked")}
    assert listed[-1] == ("message.list-denied", "blocked")


def _conversation_of(session: Session, attachment_id: uuid.UUID) -> uuid.UUID:
    row = session.get(Attachment, attachment_id)
    assert row is not None
    return reading.conversation_of_message(session, row.message_id)
