"""One way to load a holder (rule ID-1): `accounts.service.holder_by_nir` with a `Nir` normalised
once by `rules.parse_nir` / `rules.as_nir`, whatever spelling the caller was given."""

from __future__ import annotations

import pytest

from carnet.accounts import rules
from carnet.accounts.service import holder, holder_by_nir
from carnet.auth.principal import PrincipalKind
from carnet.auth.service import find_principal
from carnet.db import Database
from carnet.errors import InvalidInput
from tests.factories import make_holder


def _spaced(nir: str) -> str:
    """The NIR as people type it: groups, spaces and dots, lower-case Corsica letters."""
    return f"{nir[0]} {nir[1:3]} {nir[3:5]}.{nir[5:7].lower()} {nir[7:10]} {nir[10:13]} {nir[13:]}"


def test_parse_nir_normalises_and_checks_the_key() -> None:
    """ID-1: one spelling (no spaces or dots, upper case); a wrong key names the field."""
    nir = rules.make_nir(2, 1985, 7, "2A", 4, 12)
    assert rules.parse_nir(_spaced(nir)) == nir
    assert rules.as_nir(_spaced(nir)) == nir
    broken = nir[:13] + f"{(int(nir[13:]) + 1) % 97:02d}"
    assert rules.as_nir(broken) is None
    with pytest.raises(InvalidInput) as caught:
        rules.parse_nir(broken, field="representative_nir")
    assert caught.value.field == "representative_nir"


def test_holder_by_nir_and_by_id(database: Database) -> None:
    with database.transaction() as session:
        person = make_holder(session)
        assert holder_by_nir(session, rules.parse_nir(_spaced(person.nir))) is person
        assert holder(session, person.id) is person
        other = rules.make_nir(1, 1950, 1, "75", 998, 998)
        assert holder_by_nir(session, rules.parse_nir(other)) is None


def test_a_token_for_a_nir_typed_with_spaces_finds_the_holder(database: Database) -> None:
    """`carnet token --holder` read the NIR as typed: a spaced NIR named nobody (ID-1)."""
    with database.transaction() as session:
        person = make_holder(session)
        principal = find_principal(session, holder_nir=_spaced(person.nir))
        assert principal.kind is PrincipalKind.HOLDER and principal.id == person.id
