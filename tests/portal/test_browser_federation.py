"""Federated sign-in in a real Chromium (Playwright): the holder presses "Se connecter avec
FranceConnect" on the login page, signs in at a real OpenID provider (npm's `oidc-provider` on
127.0.0.1) and lands in their space, linked by their identity traits. axe-core runs on the login
page with its button, and on the refusal page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from carnet.app import create_app
from carnet.auth import federation
from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.portal import browser as support
from tests.portal.support import make_account
from tests.support.oidc import running_provider

Check = Callable[[Any], None]


@pytest.fixture
def federated_page(
    chromium: Any, database: Database, vault: Vault, settings: Settings, tmp_path: Path
) -> Iterator[Any]:
    """A tab on a live Carnet whose holder login offers the provider, which sends people back to
    that very server (its port is chosen first, so both know the redirect URI)."""
    port = support.free_port()
    base = f"http://127.0.0.1:{port}"
    federation.forget_metadata()
    with running_provider(tmp_path, carnet=base) as provider:
        app = create_app(
            settings.model_copy(update={"base_url": base, "oidc_providers": provider.providers}),
            database,
        )
        app.state.vault = vault
        with support.live_server(app, port=port) as url:
            context = chromium.new_context(base_url=url, locale="fr-FR")
            context.set_default_timeout(15_000)
            try:
                yield context.new_page()
            finally:
                context.close()


def test_holder_signs_in_with_the_national_provider(
    federated_page: Any, accessible: Check, database: Database
) -> None:
    make_account(
        database,
        birth_name="DUPONT",
        first_names="MARIE HELENE LOUISE",
        birth_date=dt.date(1985, 4, 12),
        sex="F",
        birth_place_insee="75056",
    )
    page = federated_page
    page.goto("/login")
    accessible(page)
    page.get_by_role("link", name="Se connecter avec FranceConnect", exact=True).click()
    page.locator("input[name=login]").fill("marie")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/home")
    assert page.get_by_role("heading", level=1).count() == 1


def test_a_person_carnet_does_not_know_reads_why_in_french(
    federated_page: Any, accessible: Check
) -> None:
    page = federated_page
    page.goto("/login")
    page.get_by_role("link", name="Se connecter avec FranceConnect", exact=True).click()
    page.locator("input[name=login]").fill("nobody")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/oidc/fc/callback*")
    assert "Aucun compte Carnet ne correspond" in page.locator("main").inner_text()
    accessible(page)
    page.get_by_role("link", name="Retour à la page de connexion").click()
    page.wait_for_url("**/login")
