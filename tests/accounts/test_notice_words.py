"""The words of the account notices (LC-1, LC-2) and of professions (ID-2), issue 16: one tense
in the opening notice, professions in the reader's language."""

from __future__ import annotations

import datetime as dt

from carnet.accounts import notices, rules
from carnet.accounts.models import Holder

HOLDER = Holder(first_names="Camille", birth_name="Martin")


def test_the_opening_notice_says_the_space_will_be_open_never_that_it_is() -> None:
    text = notices.notice_text(
        HOLDER, "ACDEFGHJKMNP", "account.notice", dt.date(2026, 4, 13), "https://carnet.example"
    )
    assert "Un espace santé Carnet sera ouvert au nom de Camille Martin." in text
    assert "est ouvert" not in text
    assert "jusqu'au 13/04/2026 inclus" in text


def test_a_renewed_code_says_the_space_is_open() -> None:
    text = notices.notice_text(
        HOLDER, "ACDEFGHJKMNP", "account.renewal", None, "https://carnet.example"
    )
    assert "Un espace santé Carnet est ouvert au nom de Camille Martin." in text
    assert "sera ouvert" not in text


def test_every_profession_has_an_english_name() -> None:
    assert set(rules.PROFESSIONS_EN) == set(rules.PROFESSIONS)
    assert rules.profession_name("40", "en") == "Dental surgeon"
    assert rules.profession_name("40", "fr") == "Chirurgien-dentiste"
    assert rules.profession_name("99", "en") == "99"  # unknown: shown as it is
    assert rules.profession_translated("Chirurgien-dentiste", "en") == "Dental surgeon"
