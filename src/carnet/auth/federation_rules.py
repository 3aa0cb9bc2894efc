"""Pure rules of federated sign-in (`carnet.auth.federation`): which level of authentication is
enough, which signatures are trusted, and how a provider's person is recognised in Carnet.

Carnet decision (linking): a provider's person is linked to a Carnet account by what identifies
them, never by an e-mail address (anyone may put any address at a provider):
- holders by their identity traits (ID-1): birth family name, given names, birth date, sex and
  birth place (the INSEE code of the commune, or of the country, 99xxx, for people born abroad),
  as FranceConnect returns them (`family_name`, `given_name`, `birthdate`, `gender`,
  `birthplace`, `birthcountry`). Names are compared without accents, case, hyphens or
  apostrophes, as printed on civil-status documents and typed by people; every given name must be
  there in order. All traits must agree, and exactly one holder must have them;
- professionals by their RPPS number (ID-2), read from a configurable claim; Pro Santé Connect
  gives the national identifier, "8" followed by the 11 RPPS digits, which is accepted too.

No I/O here: the service fetches, verifies and looks up.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from carnet.accounts.rules import rpps_problem

# Signatures an id_token may carry: asymmetric only, so that the provider's published keys, not a
# secret shared with Carnet, vouch for it; never "none".
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
RPPS_NATIONAL_PREFIX = "8"  # the national identifier of a professional known by an RPPS number
_SEXES = {"male": "M", "female": "F"}
_SEPARATORS = re.compile(r"[\s\-'’‐]+")


class ClaimsProblem(ValueError):
    """The provider's answer lacks or mangles what Carnet needs (the message names a claim)."""


def signing_algorithms(advertised: Iterable[str] | None) -> list[str]:
    """The algorithms an id_token of this provider may be signed with: what it advertises, among
    the asymmetric ones (RS256 when it says nothing, the default of OpenID Connect)."""
    offered = set(advertised) if advertised else {"RS256"}
    return sorted(offered & SIGNING_ALGORITHMS)


def acr_accepted(acr: Any, accepted: Iterable[str]) -> bool:
    """The provider vouched for one of the levels of authentication this provider is trusted for."""
    return isinstance(acr, str) and acr in set(accepted)


def normalize_name(value: str) -> str:
    """A name as compared: no accents, upper case, hyphens and apostrophes as spaces, single
    spaces ("Hélène-Marie d'Arc" and "HELENE MARIE D ARC" are the same)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", plain.upper()).strip()


@dataclass(frozen=True)
class Traits:
    """A person's identity traits, normalised for comparison."""

    family_name: str
    given_names: str
    birth_date: dt.date
    sex: str  # "M" or "F"
    birth_place: str  # INSEE code of the commune, or of the country (99xxx) when born abroad


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ClaimsProblem(f"the provider did not give `{name}`")
    return value


def traits_from_claims(claims: Mapping[str, Any]) -> Traits:
    """The traits of a provider's person (FranceConnect's claims); `ClaimsProblem` when one is
    missing, since a link made on part of the traits could join two people."""
    try:
        birth_date = dt.date.fromisoformat(_text(claims, "birthdate"))
    except ValueError:
        raise ClaimsProblem("the provider's `birthdate` is not a date") from None
    sex = _SEXES.get(_text(claims, "gender").lower())
    if sex is None:
        raise ClaimsProblem("the provider's `gender` is neither male nor female")
    place = claims.get("birthplace")
    if not isinstance(place, str) or not place.strip():
        place = _text(claims, "birthcountry")  # born abroad: the country's INSEE code
    return Traits(
        family_name=normalize_name(_text(claims, "family_name")),
        given_names=normalize_name(_text(claims, "given_name")),
        birth_date=birth_date,
        sex=sex,
        birth_place=place.strip(),
    )


def holder_traits(
    birth_name: str, first_names: str, birth_date: dt.date, sex: str, birth_place_insee: str
) -> Traits:
    """A Carnet holder's traits, normalised the same way."""
    return Traits(
        family_name=normalize_name(birth_name),
        given_names=normalize_name(first_names),
        birth_date=birth_date,
        sex=sex.upper(),
        birth_place=birth_place_insee.strip(),
    )


def same_person(provider: Traits, holder: Traits) -> bool:
    """Every trait agrees (the holder's birth place must be known: none proves nothing)."""
    return bool(holder.birth_place) and provider == holder


def rpps_from_claim(value: Any) -> str | None:
    """The RPPS number in a provider's claim (the 11 digits, or the national identifier "8" +
    11 digits), checked (ID-2); None when there is none."""
    if not isinstance(value, str):
        return None
    digits = value.strip()
    if len(digits) == 12 and digits.startswith(RPPS_NATIONAL_PREFIX):
        digits = digits[1:]
    return digits if rpps_problem(digits) is None else None
