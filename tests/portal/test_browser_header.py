"""The portal's header and list tables in a real Chromium (issue 16): the header stays compact
on a desktop and on a phone, the menu's groups open and close from the keyboard, the current page
is marked, the main pages have no axe violation at all, and the agenda's tables put each thing
under its own heading (the professional under "Avec", the place under "Où")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from carnet import clock
from carnet.db import Database
from tests.agenda.support import PARIS
from tests.portal.browser import axe_violations, describe, follow_menu
from tests.portal.support import make_account, make_child
from tests.portal.test_browser import sign_in

Check = Callable[[Any], None]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Before the change: about 280 px on a desktop, 640 px on a 390 px phone (issue 16 item 10).
DESKTOP_BOUND = 120
PHONE_BOUND = 170
MAIN_PAGES = (
    "/home",
    "/documents",
    "/medical-profile",
    "/health-story",
    "/messages",
    "/agenda",
    "/professionals",
    "/contacts",
    "/history",
    "/my-data",
    "/apps",
    "/account",
)


def _header_height(page: Any) -> float:
    box = page.locator("header.site-header").bounding_box()
    assert box is not None
    return float(box["height"])


def _signed_in_with_two_profiles(page: Any, database: Database, accessible: Check) -> None:
    """The tallest header a holder gets: the acting-space line with the profile switch."""
    make_child(database, make_account(database, birth_date=dt.date(1988, 3, 1), sex="F"))
    sign_in(page, database, accessible)


def test_the_header_is_compact_on_a_desktop_and_on_a_phone(
    page: Any, accessible: Check, database: Database
) -> None:
    _signed_in_with_two_profiles(page, database, accessible)
    assert _header_height(page) <= DESKTOP_BOUND
    nav = page.get_by_role("navigation", name="Menu principal")
    groups = nav.locator("summary")
    expect(groups).to_have_text(["Mon dossier", "Mes échanges", "Mon espace"])
    expect(nav.get_by_role("link", name="Historique")).to_be_hidden()  # grouped, closed

    page.set_viewport_size(PHONE)
    page.goto("/agenda")
    assert _header_height(page) <= PHONE_BOUND
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing wider than the phone
    assert axe_violations(page) == []
    page.locator("nav.main-nav summary").first.click()  # a group open over the page
    assert axe_violations(page) == []
    follow_menu(page, "Messagerie")
    page.wait_for_url("**/messages")
    assert _header_height(page) <= PHONE_BOUND
    page.set_viewport_size(DESKTOP)


def test_the_menu_groups_work_from_the_keyboard(
    page: Any, accessible: Check, database: Database
) -> None:
    make_account(database)
    sign_in(page, database, accessible)
    record = page.locator("nav.main-nav details").first
    summary = record.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(record).to_have_attribute("open", "")
    accessible(page)  # open, over the page
    page.keyboard.press("Tab")
    expect(record.get_by_role("link", name="Documents")).to_be_focused()
    page.keyboard.press("Escape")
    expect(record).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()

    # Opening another group closes the first one.
    page.keyboard.press("Space")
    space = page.locator("nav.main-nav details").nth(2)
    space.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(space).to_have_attribute("open", "")
    expect(record).not_to_have_attribute("open", "")

    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the group's first link: Contacts and wishes
    page.wait_for_url("**/contacts")
    current = page.locator('nav.main-nav a[aria-current="page"]')
    expect(current).to_have_text("Contacts et volontés")
    expect(page.locator("nav.main-nav summary.current")).to_have_text("Mon espace")
    # The marker is a border, not an underline that descenders would cut.
    home = page.locator("nav.main-nav").get_by_role("link", name="Accueil")
    home.click()
    page.wait_for_url("**/home")
    style = page.locator('nav.main-nav a[aria-current="page"]').evaluate(
        "a => [getComputedStyle(a).textDecorationLine, getComputedStyle(a).borderBottomWidth]"
    )
    assert style == ["none", "3px"]


def test_the_main_pages_have_no_axe_violation(
    page: Any, accessible: Check, database: Database
) -> None:
    _signed_in_with_two_profiles(page, database, accessible)
    for path in MAIN_PAGES:
        page.goto(path)
        violations = axe_violations(page)
        assert violations == [], f"axe on {path}:\n{describe(violations)}"


def test_the_agenda_tables_for_a_38_year_old(
    page: Any, accessible: Check, database: Database
) -> None:
    """Issue 16 items 10 and 12: columns under their headings; the calendar says what is due now
    (the MMR catch-up of anyone born since 1980) and what comes next, with its date."""
    born = clock.now().astimezone(PARIS).date().replace(month=1, day=1, year=1988)
    make_account(database, birth_date=born, sex="F")
    sign_in(page, database, accessible)
    follow_menu(page, "Agenda")
    page.wait_for_url("**/agenda")
    page.get_by_label("Titre").fill("Contrôle")
    page.get_by_label("Date").fill((clock.now().date() + dt.timedelta(days=7)).isoformat())
    page.get_by_label("Heure (heure de Paris)").fill("10:00")
    page.get_by_label("Lieu (facultatif)").fill("12 rue des Lilas")
    page.get_by_label("Professionnel (facultatif)").fill("Dr Sourire")
    page.get_by_role("button", name="Ajouter le rendez-vous").click()
    page.wait_for_url("**/agenda")
    table = page.locator("table.list.appointments")
    headers = table.locator("thead th").all_inner_texts()
    cells = table.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[headers.index("Avec")] == "Dr Sourire"
    assert cells[headers.index("Où")] == "12 rue des Lilas"
    assert table.locator("th").first.evaluate("th => getComputedStyle(th).textAlign") == "left"
    date_width = page.get_by_label("Date").evaluate("i => i.getBoundingClientRect().width")
    assert date_width >= 150  # a date field at the size of the others

    now = page.locator("table.prevention").first
    expect(now).to_contain_text("Rougeole-oreillons-rubéole (ROR), 1re dose")
    expect(now).to_contain_text("Rattrapage recommandé")
    expect(now).not_to_contain_text("Examen obligatoire")
    upcoming = page.locator("table.prevention").nth(1)
    expect(upcoming).to_contain_text("test HPV")
    expect(upcoming).to_contain_text("Rappel diphtérie-tétanos-polio (dTP)")
    expect(upcoming).to_contain_text(str(born.year + 45))
    accessible(page)
