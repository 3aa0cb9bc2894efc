"""A structured (CDA) lab report in a real Chromium (issue 16 item 5): the holder opens it and
reads its sections and result table in the page, on screen and printed; what the document tried
to run (a script, an event handler, a javascript: link) never runs. axe-core on the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.documents.test_cda import BIO, fixture
from tests.portal.support import deposit, make_account
from tests.portal.test_browser import sign_in

Check = Callable[[Any], None]

# Written into the ANS example's first results table: each would set `window.carnetRan`.
HOSTILE = (
    b'<paragraph onmouseover="window.carnetRan=1">Commentaire du biologiste</paragraph>'
    b'<script>window.carnetRan=2</script>'
    b'<x:script xmlns:x="http://www.w3.org/1999/xhtml">window.carnetRan=3</x:script>'
    b'<linkHtml href="javascript:window.carnetRan=4">voir aussi</linkHtml>'
    b'<renderMultiMedia referencedObject="doc-1"/>'
)


def test_a_cda_lab_report_is_read_in_the_page_and_runs_nothing(
    page: Any, accessible: Check, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    content = fixture(BIO).replace(b"<table border=\"0\">", HOSTILE + b"<table border=\"0\">", 1)
    doc_id = deposit(database, vault, settings, holder, "Bilan thyroïdien", content=content)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, database, accessible)
    page.goto(f"/documents/{doc_id}")
    main = page.locator("main")
    expect(main.get_by_role("heading", name="BIOCHIMIE", exact=True)).to_be_visible()
    expect(main.get_by_role("cell", name="1.950 mUI/l")).to_be_visible()
    expect(main.get_by_role("columnheader", name="BILAN THYROIDIEN")).to_be_visible()
    expect(main).to_contain_text("Commentaire du biologiste")
    expect(main).to_contain_text("Laboratoire des charmes")
    expect(main).to_contain_text("Un PDF joint à ce document n'est pas affiché ici")
    # Text only: no link, handler or script of the document's reached the page.
    expect(main.get_by_text("voir aussi")).to_be_visible()
    expect(main.get_by_role("link", name="voir aussi")).to_have_count(0)
    assert page.locator(".cda script, .cda [onmouseover], .cda a, .cda [style]").count() == 0
    main.get_by_text("Commentaire du biologiste").hover()
    assert page.evaluate("() => window.carnetRan") is None
    assert dialogs == []
    accessible(page)

    # Printed: the narrative stays, the page's forms go.
    page.emulate_media(media="print")
    expect(main.get_by_role("heading", name="BIOCHIMIE", exact=True)).to_be_visible()
    expect(main.get_by_role("cell", name="1.950 mUI/l")).to_be_visible()
    expect(page.locator("section.manage")).to_be_hidden()
