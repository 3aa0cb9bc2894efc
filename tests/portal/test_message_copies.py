"""The holder's reply form offers the space's documents as attachments; a copy a professional of
the conversation may not read is refused with a readable message naming that professional, in
French and in English, and nothing is written (rules SRV-1, ACC-1, DOC-3)."""

from __future__ import annotations

import html
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.messaging import conversations
from carnet.messaging.context import Context, NewConversation, NewMessage
from carnet.messaging.models import Attachment, Message
from carnet.vault.service import Vault
from tests.factories import make_professional
from tests.portal.support import csrf_of, deposit, log_in, make_account


def _conversation(
    database: Database, vault: Vault, settings: Settings, holder: Holder
) -> tuple[uuid.UUID, Any, str]:
    """A GP of the care team writes to the holder and copies a nurse of the care team."""
    with database.transaction() as session:
        gp = make_professional(session, name="Dr Martin")
        nurse = make_professional(session, profession_code="60", name="Infirmière Durand")
        for pro in (gp, nurse):
            session.add(
                CareRelationship(holder_id=holder.id, professional_id=pro.id, status="authorised")
            )
        session.flush()
        ctx = Context(session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, gp.id))
        conversation, _first = conversations.start(
            ctx, session.get(Holder, holder.id),  # type: ignore[arg-type]
            NewConversation(
                subject="Suivi", message=NewMessage(body="Bonjour"), cc=[nurse.rpps]
            ),
        )  # fmt: skip
        return conversation.id, session.get(type(gp), gp.id), nurse.rpps


def _count(database: Database, model: Any) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_srv1_a_copy_the_cc_may_not_read_is_refused_naming_them(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """DOC-3: the holder picks a document they masked; the nurse in cc may not read it, so the
    page says who may not read it and why (French by default, English on request)."""
    holder = make_account(database, ins_qualified=True)
    cid, gp, nurse_rpps = _conversation(database, vault, settings, holder)
    masked = deposit(database, vault, settings, holder, "Bilan masqué", author=gp, masked=True)
    log_in(client, database)
    page = client.get(f"/messages/{cid}")
    assert page.status_code == 200
    assert f'value="{masked}"' in page.text  # the holder reads it: it is offered
    form = {"csrf_token": csrf_of(page.text), "body": "Voici le bilan", "document_id": str(masked)}
    refused = client.post(f"/messages/{cid}/reply", data=form, follow_redirects=False)
    assert refused.status_code == 403
    text = html.unescape(refused.text)
    assert f"Infirmière Durand (RPPS {nurse_rpps}) ne peut pas lire le document joint" in text
    assert "le patient l'a masqué aux professionnels" in text
    english = client.post(
        f"/messages/{cid}/reply", data=form, headers={"Accept-Language": "en"},
        follow_redirects=False,
    )  # fmt: skip
    assert english.status_code == 403
    assert (
        f"Infirmière Durand (RPPS {nurse_rpps}) may not read the attached document (the patient "
        "masked it from professionals)" in html.unescape(english.text)
    )
    assert _count(database, Message) == 1 and _count(database, Attachment) == 0


def test_srv1_a_copy_every_recipient_may_read_is_sent_from_the_portal(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """SRV-1: attachments come from the holder's documents too."""
    holder = make_account(database, ins_qualified=True)
    cid, gp, _nurse = _conversation(database, vault, settings, holder)
    plain = deposit(database, vault, settings, holder, "Bilan", author=gp)
    log_in(client, database)
    page = client.get(f"/messages/{cid}")
    form = {"csrf_token": csrf_of(page.text), "body": "Voici", "document_id": str(plain)}
    sent = client.post(f"/messages/{cid}/reply", data=form, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    assert _count(database, Attachment) == 1
