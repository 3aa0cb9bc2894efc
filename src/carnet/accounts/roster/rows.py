"""The roster's columns and the check of one row (pure functions; rule ID-1, LC-1, LC-6, REP-1).

A row is checked field by field through `_CHECKS`, a table in column order: each check reads the
field's stripped text (and the fields checked before it), returns the normalized value and adds the
reasons it finds. Reasons name the field and the rule broken but never quote the value: the rejects
file must not carry personal data. The format is documented in `docs/formats/roster.md`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from carnet.accounts import rules
from carnet.feeds import Reject
from carnet.notifications import rules as mail_rules

COLUMNS = (
    "nir",
    "birth_name",
    "first_names",
    "birth_date",
    "sex",
    "birth_place_insee",
    "email",
    "phone",
    "postal_address",
    "representative_nir",
    "second_representative_nir",
    "deceased_on",
)
# NDJSON objects must carry these keys; the other ones may be left out (null, absent or "").
REQUIRED_FIELDS = ("nir", "birth_name", "first_names", "birth_date", "sex")
CONTACT_FIELDS = ("email", "phone", "postal_address")
TRAIT_FIELDS = ("birth_name", "first_names", "birth_date", "sex", "birth_place_insee")
REP_FIELDS = ("representative_nir", "second_representative_nir")
MAX_ADDRESS = 500


@dataclass(frozen=True, slots=True)
class RosterRow:
    """A validated, normalized roster row (rule ID-1: the NIR and the five traits)."""

    line: int
    nir: str
    birth_name: str
    first_names: str
    birth_date: dt.date
    sex: str
    birth_place_insee: str
    email: str | None
    phone: str | None
    postal_address: str | None
    representative_nir: str | None
    second_representative_nir: str | None
    deceased_on: dt.date | None
    digest: str

    def to_json(self) -> str:
        return json.dumps(
            [
                self.line,
                self.nir,
                self.birth_name,
                self.first_names,
                self.birth_date.isoformat(),
                self.sex,
                self.birth_place_insee,
                self.email,
                self.phone,
                self.postal_address,
                self.representative_nir,
                self.second_representative_nir,
                self.deceased_on.isoformat() if self.deceased_on else None,
                self.digest,
            ],
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> RosterRow:
        v = json.loads(text)
        return cls(
            v[0], v[1], v[2], v[3], dt.date.fromisoformat(v[4]), v[5], v[6], v[7], v[8], v[9],
            v[10], v[11], dt.date.fromisoformat(v[12]) if v[12] else None, v[13],
        )  # fmt: skip

    @property
    def representatives(self) -> tuple[str, ...]:
        if self.representative_nir is None:
            return ()
        if self.second_representative_nir is None:
            return (self.representative_nir,)
        return (self.representative_nir, self.second_representative_nir)


def row_digest(values: Sequence[str]) -> str:
    """What `Holder.roster_digest` stores: blake2b-128 over the normalized fields of a row, so
    that running the same roster again recognises unchanged people without comparing columns."""
    return hashlib.blake2b("\x1f".join(values).encode("utf-8"), digest_size=16).hexdigest()


# -- the field checks ----------------------------------------------------------------------------

_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INSEE_RE = re.compile(r"(?:[0-9]{5}|2[AB][0-9]{3})")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 .()\-]{3,29}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")

# (the field's stripped text, the values checked so far, today, the reasons found) -> the value
Check = Callable[[str, dict[str, Any], dt.date, list[str]], Any]


def _nir(raw: str) -> tuple[str, str | None]:
    """The normalized NIR and why it is not valid (rule ID-1), or None.

    The common case — 15 clean characters that pass `rules`' own pattern and key — skips
    `rules.normalize_nir`'s substitution; anything else goes through `rules.nir_problem`.
    """
    if len(raw) == 15 and raw.isalnum():
        nir = raw.upper()
        if rules._NIR_RE.match(nir) and rules.nir_key(nir[:13]) == int(nir[13:]):
            return nir, None
    else:
        nir = rules.normalize_nir(raw)
    return nir, rules.nir_problem(nir)


def _day(value: str, problems: list[str]) -> dt.date | None:
    if not _DAY_RE.fullmatch(value):
        problems.append("not a date written YYYY-MM-DD")
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append("impossible date (no such day in the calendar)")
        return None


def _check_nir(text: str, _row: dict[str, Any], _today: dt.date, problems: list[str]) -> str:
    if not text:
        problems.append("missing")
        return ""
    nir, problem = _nir(text)
    if problem:
        problems.append(problem)
    return nir


def _name(limit: int) -> Check:
    def check(text: str, _row: dict[str, Any], _today: dt.date, problems: list[str]) -> str:
        if not text:
            problems.append("missing")
        elif len(text) > limit:
            problems.append(f"longer than {limit} characters")
        elif _CONTROL_RE.search(text):
            problems.append("contains control characters")
        return text

    return check


def _check_birth_date(
    text: str, _row: dict[str, Any], today: dt.date, problems: list[str]
) -> dt.date | None:
    if not text:
        problems.append("missing")
        return None
    birth_date = _day(text, problems)
    if birth_date is not None and birth_date > today:
        problems.append("in the future")
        return None
    return birth_date


def _check_sex(text: str, _row: dict[str, Any], _today: dt.date, problems: list[str]) -> str:
    sex = text.upper()
    if not sex:
        problems.append("missing")
    elif sex not in ("M", "F"):
        problems.append("unknown sex code (expected M or F)")
    return sex


def _check_insee(text: str, _row: dict[str, Any], _today: dt.date, problems: list[str]) -> str:
    insee = text.upper()
    if insee and not _INSEE_RE.fullmatch(insee):
        problems.append("an INSEE code has 5 characters: digits, or 2A/2B then 3 digits")
    return insee


def _check_email(
    text: str, _row: dict[str, Any], _today: dt.date, problems: list[str]
) -> str | None:
    if text and not mail_rules.is_valid_email(text):
        problems.append("not a valid e-mail address")
    return text or None


def _check_phone(
    text: str, _row: dict[str, Any], _today: dt.date, problems: list[str]
) -> str | None:
    if text and not _PHONE_RE.fullmatch(text):
        problems.append("not a phone number (digits, spaces, + . - ( ), at most 30)")
    return text or None


def _check_address(
    text: str, _row: dict[str, Any], _today: dt.date, problems: list[str]
) -> str | None:
    address = text.replace("\r\n", "\n").replace("\r", "\n") or None
    if address is not None:
        if len(address) > MAX_ADDRESS:
            problems.append(f"longer than {MAX_ADDRESS} characters")
        elif _ADDRESS_CONTROL_RE.search(address):
            problems.append("contains control characters")
    return address


def _check_representative(
    text: str, row: dict[str, Any], _today: dt.date, problems: list[str]
) -> str | None:
    """REP-1: a representative's NIR, never the person's own."""
    if not text:
        return None
    rep, problem = _nir(text)
    if problem:
        problems.append(problem)
    elif rep == row["nir"]:
        problems.append("a person cannot be their own representative")
    return rep


def _check_second_representative(
    text: str, row: dict[str, Any], today: dt.date, problems: list[str]
) -> str | None:
    rep2 = _check_representative(text, row, today, problems)
    rep1 = row["representative_nir"]
    if rep2 is not None and rep1 is None:
        problems.append("given without representative_nir")
    elif rep2 is not None and rep2 == rep1:
        problems.append("the same person as representative_nir")
    return rep2


def _check_deceased(
    text: str, row: dict[str, Any], today: dt.date, problems: list[str]
) -> dt.date | None:
    """LC-6: a death date, neither in the future nor before the birth."""
    if not text:
        return None
    deceased_on = _day(text, problems)
    if deceased_on is not None:
        if deceased_on > today:
            problems.append("in the future")
        elif row["birth_date"] is not None and deceased_on < row["birth_date"]:
            problems.append("before the birth date")
    return deceased_on


_CALL = object()  # in `_CHECKS`: an empty field is checked too (it is required)

# Column order; (field, check, the value of an empty field when it may be left empty).
_CHECKS: tuple[tuple[str, Check, Any], ...] = (
    ("nir", _check_nir, _CALL),
    ("birth_name", _name(100), _CALL),
    ("first_names", _name(200), _CALL),
    ("birth_date", _check_birth_date, _CALL),
    ("sex", _check_sex, _CALL),
    ("birth_place_insee", _check_insee, ""),
    ("email", _check_email, None),
    ("phone", _check_phone, None),
    ("postal_address", _check_address, None),
    ("representative_nir", _check_representative, None),
    ("second_representative_nir", _check_second_representative, None),
    ("deceased_on", _check_deceased, None),
)
assert tuple(name for name, _check, _empty in _CHECKS) == COLUMNS


def validate_row(
    line: int, values: Mapping[str, str | None], today: dt.date
) -> RosterRow | list[Reject]:
    """Check and normalize one roster row; every problem found is returned (rule ID-1).

    `values` maps column names to the raw text (None or "" when empty).
    """
    problems: list[Reject] = []
    get = values.get
    row: dict[str, Any] = {}
    reasons: list[str] = []
    for name, check, empty in _CHECKS:
        raw = get(name)
        text = raw.strip() if raw else ""
        if not text and empty is not _CALL:
            row[name] = empty
            continue
        row[name] = check(text, row, today, reasons)
        if reasons:
            problems.extend(Reject(line, name, reason) for reason in reasons)
            reasons.clear()
    # LC-1: the notice must reach someone. A minor's goes to the representative (checked later).
    if row["deceased_on"] is None and all(
        row[name] is None for name in ("representative_nir", "email", "postal_address")
    ):
        problems.append(
            Reject(
                line,
                "postal_address",
                "no e-mail and no postal address: the notice cannot be sent (LC-1)",
            )
        )
    if problems:
        return problems
    return _row(line, row)


def _row(line: int, v: dict[str, Any]) -> RosterRow:
    """The checked values as a `RosterRow`, with the digest of what the roster said."""
    deceased_on: dt.date | None = v["deceased_on"]
    digest = row_digest(
        (
            v["nir"], v["birth_name"], v["first_names"], v["birth_date"].isoformat(), v["sex"],
            v["birth_place_insee"], v["email"] or "", v["phone"] or "", v["postal_address"] or "",
            v["representative_nir"] or "", v["second_representative_nir"] or "",
            deceased_on.isoformat() if deceased_on else "",
        )
    )  # fmt: skip
    return RosterRow(
        line, v["nir"], v["birth_name"], v["first_names"], v["birth_date"], v["sex"],
        v["birth_place_insee"], v["email"], v["phone"], v["postal_address"],
        v["representative_nir"], v["second_representative_nir"], deceased_on, digest,
    )  # fmt: skip
