"""Languages: French by default, English from the browser or the switch; catalogues in sync."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from carnet.accounts.passwords import password_problem
from carnet.db import Database
from carnet.portal import catalogs, messages
from carnet.portal.i18n import Formatter, parse_accept_language
from tests.portal.support import log_in, make_account


def test_french_by_default(client: TestClient) -> None:
    page = client.get("/")
    assert '<html lang="fr">' in page.text
    assert "Bienvenue sur Carnet" in page.text
    assert page.headers["content-language"] == "fr"


def test_accept_language_english(client: TestClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert '<html lang="en">' in page.text
    assert "<title>Log in – Carnet</title>" in page.text


def test_accept_language_prefers_the_best_supported(client: TestClient) -> None:
    page = client.get("/", headers={"Accept-Language": "de-DE, fr;q=0.8, en;q=0.5"})
    assert '<html lang="fr">' in page.text
    page = client.get("/", headers={"Accept-Language": "de-DE, en;q=0.8, fr;q=0"})
    assert '<html lang="en">' in page.text


def test_the_switch_sets_a_cookie_and_comes_back(client: TestClient) -> None:
    response = client.get("/lang/en?next=/activation", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/activation"
    assert "carnet_lang=en" in response.headers["set-cookie"]
    page = client.get("/activation", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in page.text
    assert "Activate your space" in page.text
    client.get("/lang/fr")
    assert '<html lang="fr">' in client.get("/activation").text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example"])
def test_the_switch_never_sends_elsewhere(client: TestClient, target: str) -> None:
    response = client.get("/lang/en", params={"next": target}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_holder_pages_in_english(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    client.get("/lang/en")
    page = client.get("/documents")
    assert "Add a document" in page.text and "My account" in page.text


def test_formats_follow_the_language() -> None:
    day = dt.date(2026, 3, 9)
    assert Formatter("fr").date(day) == "9 mars 2026"
    assert Formatter("en").date(day) == "March 9, 2026"
    assert Formatter("fr").size(1_288_490) == "1,2\u202fMo"
    assert Formatter("en").size(1_288_490) == "1.2 MB"
    assert Formatter("fr").number(1234.5) == "1\u202f234,5"


def test_accept_language_parsing() -> None:
    assert parse_accept_language("en;q=0.5, fr-CA, de;q=0") == ["fr-CA", "en"]
    assert parse_accept_language("") == []
    assert parse_accept_language("en;q=abc") == []


def test_catalogues_are_in_sync_with_the_sources() -> None:
    """The .pot matches the sources, the .po have every message translated, the committed .mo
    are the compilation of the .po (`python -m carnet.portal.catalogs update|compile`)."""
    assert list(catalogs.problems()) == []


def test_the_services_messages_are_translated() -> None:
    """Password rules (LC-4) and every mapped error read in French."""
    fr = Formatter("fr")
    birth = dt.date(1980, 1, 1)
    for password in (
        "short",
        "aaaaaaaaaaaaaaa",
        "marie.dupont-longue",
        "x01011980yzabcd",
        "y" * 300,
    ):
        problem = password_problem(password, "marie.dupont", birth)
        assert problem is not None
        assert problem in messages.KNOWN_MESSAGES, problem
        assert fr.gettext(problem) != problem
    for message in [
        *messages.BY_CODE.values(),
        *messages.FLASH.values(),
        *messages.BY_STATUS.values(),
    ]:
        assert fr.gettext(message) != message, message


def test_throttled_attempts_read_in_both_languages() -> None:
    """LC-2, LC-4: a throttled attempt (`auth.throttle`) says how long to wait, in French and in
    English, from the catalogues (kept in sync by the test above)."""
    fr, en = Formatter("fr"), Formatter("en")
    assert messages.too_many(1, fr) == (
        "Trop de tentatives échouées : attendez 1 seconde avant de réessayer."
    )
    assert messages.too_many(4, fr) == (
        "Trop de tentatives échouées : attendez 4 secondes avant de réessayer."
    )
    assert messages.too_many(900, fr) == (
        "Trop de tentatives échouées : attendez 15 minutes avant de réessayer."
    )
    assert (
        messages.too_many(61, en) == "Too many failed attempts: wait 2 minutes before trying again."
    )
