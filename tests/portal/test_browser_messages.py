"""Messagerie in a real Chromium: the holder reads a professional's message, replies with a file,
and the professional sees the reply with its attachment (SRV-1). axe-core runs on each page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.messaging import conversations, reading
from carnet.messaging.context import Context, NewConversation, NewMessage
from carnet.vault.service import Vault
from tests.portal.browser import follow_menu
from tests.portal.support import make_account, make_professional_in_care
from tests.portal.test_browser import sign_in

Check = Callable[[Any], None]


def test_the_holder_reads_and_replies_with_a_file(
    page: Any,
    accessible: Check,
    database: Database,
    vault: Vault,
    settings: Settings,
    tmp_path: Any,
) -> None:
    holder = make_account(database)
    pro = make_professional_in_care(database, holder)
    with database.transaction() as session:
        conversation, _ = conversations.start(
            Context(session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, pro.id)),
            session.get(Holder, holder.id),  # type: ignore[arg-type]
            NewConversation(
                subject="Vos résultats d'analyse",
                message=NewMessage(body="Bonjour, tout est normal."),
            ),
        )
        conversation_id = conversation.id
    sign_in(page, database, accessible)
    follow_menu(page, "Messagerie")
    page.wait_for_url("**/messages")
    expect(page.get_by_role("heading", level=1)).to_have_text("Messagerie")
    accessible(page)
    page.get_by_role("link", name="Vos résultats d'analyse").click()
    page.wait_for_url(f"**/messages/{conversation_id}")
    expect(page.get_by_text("Bonjour, tout est normal.")).to_be_visible()
    accessible(page)
    note = tmp_path / "question.txt"
    note.write_text("Ma question en pièce jointe.\n", encoding="utf-8")
    page.get_by_label("Votre message").fill("Merci docteur.")
    page.get_by_label("Joindre un fichier (facultatif)").set_input_files(str(note))
    page.get_by_role("button", name="Envoyer").click()
    page.wait_for_url(f"**/messages/{conversation_id}")
    expect(page.get_by_role("status")).to_contain_text("Votre message a été envoyé.")
    expect(page.get_by_text("Merci docteur.")).to_be_visible()
    expect(page.get_by_role("link", name="question.txt")).to_be_visible()
    accessible(page)
    with database.transaction() as session:
        view = reading.read(
            Context(session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, pro.id)),
            conversation_id,
        )
    reply = view.messages[-1]
    assert (reply.body, reply.author_relation) == ("Merci docteur.", "self")
    assert [a.name for a in reply.attachments] == ["question.txt"]
