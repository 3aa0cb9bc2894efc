"""Identity rules, pure functions (rules ID-1, ID-2)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import NewType

from carnet.errors import InvalidInput

# rule ID-1: INS identifier systems.
INS_NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
INS_NIA_SYSTEM = "urn:oid:1.2.250.1.213.1.4.9"
# rule ID-2: RPPS identifier system.
RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
# The national directory's FHIR URI for the same RPPS numbers (ANS annuaire, PDSm).
RPPS_SYSTEMS = frozenset({RPPS_SYSTEM, "https://rpps.esante.gouv.fr"})

# rule ID-2: profession codes of the national table TRE_G15 that Carnet knows.
PROFESSIONS: dict[str, str] = {
    "10": "Médecin",
    "21": "Pharmacien",
    "26": "Audioprothésiste",
    "28": "Opticien-lunetier",
    "40": "Chirurgien-dentiste",
    "50": "Sage-femme",
    "60": "Infirmier",
    "69": "Infirmier psychiatrique",
    "70": "Masseur-kinésithérapeute",
    "80": "Pédicure-podologue",
    "81": "Orthoprothésiste",
    "91": "Orthophoniste",
    "92": "Orthoptiste",
    "94": "Ergothérapeute",
    "95": "Psychomotricien",
    "96": "Manipulateur ERM",
}
# The same professions in English, for pages read in English (issue 16: they showed the French).
PROFESSIONS_EN: dict[str, str] = {
    "10": "Physician",
    "21": "Pharmacist",
    "26": "Hearing-aid specialist",
    "28": "Optician",
    "40": "Dental surgeon",
    "50": "Midwife",
    "60": "Nurse",
    "69": "Psychiatric nurse",
    "70": "Physiotherapist",
    "80": "Podiatrist",
    "81": "Orthotist-prosthetist",
    "91": "Speech therapist",
    "92": "Orthoptist",
    "94": "Occupational therapist",
    "95": "Psychomotor therapist",
    "96": "Radiographer",
}


def profession_name(code: str, locale: str = "fr") -> str:
    """A TRE_G15 profession in the reader's language (French unless English is asked); an
    unknown code is shown as it is."""
    names = PROFESSIONS_EN if locale == "en" else PROFESSIONS
    return names.get(code, PROFESSIONS.get(code, code))


def profession_translated(label: str, locale: str) -> str:
    """A French profession label (as services write it into names) in the reader's language."""
    code = next((c for c, french in PROFESSIONS.items() if french == label), None)
    return profession_name(code, locale) if code is not None else label


_NIR_RE = re.compile(r"^[12378][0-9]{2}(0[1-9]|1[0-2]|[2-9][0-9])(2A|2B|[0-9]{2})[0-9]{6}[0-9]{2}$")


def nir_key(body: str) -> int:
    """The 2-digit key of a 13-character NIR body: 97 - (number mod 97), Corsica read as 19/18 (ID-1)."""
    digits = body.upper()
    if digits[5:7] == "2A":
        digits = digits[:5] + "19" + digits[7:]
    elif digits[5:7] == "2B":
        digits = digits[:5] + "18" + digits[7:]
    return 97 - (int(digits) % 97)


def normalize_nir(value: str) -> str:
    """Remove spaces and dots people type, upper-case Corsica letters."""
    return re.sub(r"[\s.]", "", value).upper()


# ID-1: the key check's own message; `access.lookups` gives it the code `nir-key-mismatch` so
# that every face (API, portal, CLI) can say this one precisely.
NIR_KEY_MISMATCH = "the NIR key does not match (97 minus the number modulo 97)"


def nir_problem(value: str) -> str | None:
    """Why `value` is not a valid NIR/NIA (rule ID-1), or None when it is."""
    nir = normalize_nir(value)
    if len(nir) != 15:
        return "a NIR has 13 characters and a 2-digit key (15 in all)"
    if not _NIR_RE.match(nir):
        return "a NIR is made of digits (2A/2B allowed for Corsica) and starts with 1, 2, 3, 7 or 8"
    if nir_key(nir[:13]) != int(nir[13:]):
        return NIR_KEY_MISMATCH
    return None


def is_valid_nir(value: str) -> bool:
    return nir_problem(value) is None


Nir = NewType("Nir", str)
"""A NIR/NIA normalised once and checked (rule ID-1): built only by `parse_nir` or `as_nir`, at
the boundaries (schemas, parsers, CLI), so that every lookup compares the same spelling."""


def parse_nir(value: str, field: str = "nir") -> Nir:
    """The normalised NIR of `value`; InvalidInput naming `field` and the ID-1 problem otherwise."""
    problem = nir_problem(value)
    if problem is not None:
        raise InvalidInput(problem, field=field)
    return Nir(normalize_nir(value))


def as_nir(value: str) -> Nir | None:
    """The normalised NIR of `value`, or None when it is not one (a lookup by an invalid NIR names
    nobody, rule ID-1)."""
    return Nir(normalize_nir(value)) if nir_problem(value) is None else None


def luhn_valid(digits: str) -> bool:
    """Luhn check over a string of digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body + digit` pass the Luhn check."""
    for candidate in "0123456789":
        if luhn_valid(body + candidate):
            return candidate
    raise AssertionError("unreachable: one digit always completes a Luhn sum")


def rpps_problem(value: str) -> str | None:
    """Why `value` is not a valid RPPS number (rule ID-2), or None."""
    rpps = value.strip()
    if not re.fullmatch(r"[0-9]{11}", rpps):
        return "an RPPS number has exactly 11 digits"
    if not luhn_valid(rpps):
        return "the RPPS check digit (Luhn) does not match"
    return None


def profession_problem(code: str) -> str | None:
    """Why `code` is not a TRE_G15 profession Carnet knows (rule ID-2), or None."""
    if code not in PROFESSIONS:
        known = ", ".join(sorted(PROFESSIONS))
        return f"unknown profession code {code!r} (TRE_G15 codes: {known})"
    return None


def make_nir(sex: int, year: int, month: int, department: str, commune: int, order: int) -> str:
    """Build a valid NIR from its parts (demo data, tests and benchmarks)."""
    body = f"{sex}{year % 100:02d}{month:02d}{department}{commune:03d}{order:03d}"
    return body + f"{nir_key(body):02d}"


def make_rpps(body: int) -> str:
    """An 11-digit RPPS number whose last digit is the Luhn check of the 10 before it."""
    digits = f"{body:010d}"
    return digits + luhn_check_digit(digits)


# -- the space's state machine (rules LC-1…LC-8) --------------------------------------------

NOTIFIED = "notified"
OPPOSED = "opposed"
OPEN = "open"
ACTIVE = "active"
SUSPENDED = "suspended"
CLOSED = "closed"
PURGE_PENDING = "purge-pending"
PURGED = "purged"
STATES = (NOTIFIED, OPPOSED, OPEN, ACTIVE, SUSPENDED, CLOSED, PURGE_PENDING, PURGED)

# event -> {from state: to state}. Anything not listed is refused (rule LC-1…LC-6).
TRANSITIONS: dict[str, dict[str, str]] = {
    "oppose": {NOTIFIED: OPPOSED},  # LC-2: only until the deadline (checked apart)
    "open": {NOTIFIED: OPEN},  # LC-3: at the deadline, by the jobs run
    # LC-4: before or after the deadline; REP-3: a young adult activates the space their
    # representatives ran (active, but without credentials of their own).
    "activate": {NOTIFIED: ACTIVE, OPEN: ACTIVE, ACTIVE: ACTIVE},
    "close": {OPEN: CLOSED, ACTIVE: CLOSED, SUSPENDED: CLOSED},  # LC-5, LC-6
    "suspend": {OPEN: SUSPENDED, ACTIVE: SUSPENDED},  # LC-6
    "reinstate": {SUSPENDED: ACTIVE},  # LC-6: the holder objected in time
    "request-purge": {CLOSED: PURGE_PENDING},  # LC-5: purge on express request
    "purge": {CLOSED: PURGED, PURGE_PENDING: PURGED},  # LC-5 (after 10 years), LC-8
    "renew": {CLOSED: OPEN, OPPOSED: OPEN},  # LC-5, LC-2: back, with a renewal code only
    "decease": {
        NOTIFIED: CLOSED,
        OPEN: CLOSED,
        ACTIVE: CLOSED,
        SUSPENDED: CLOSED,
        OPPOSED: CLOSED,
    },  # LC-6
}

# States in which the space exists for reading and writing health data (ACC-1).
LIVE_STATES = frozenset({OPEN, ACTIVE})
# States in which a provisional code may be used (oppose, activate).
CODE_STATES = frozenset({NOTIFIED, OPEN})


def next_state(event: str, state: str) -> str | None:
    """The state after `event`, or None when the machine refuses it."""
    return TRANSITIONS.get(event, {}).get(state)


def opposition_deadline(notice_day: dt.date, weeks: int = 6) -> dt.date:
    """LC-1: the notice date plus 6 weeks (configurable)."""
    return notice_day + dt.timedelta(weeks=weeks)


def may_oppose(state: str, deadline: dt.date | None, today: dt.date) -> bool:
    """LC-2: a notified person may oppose until (and including) the deadline day."""
    return state == NOTIFIED and deadline is not None and today <= deadline


def is_due_to_open(state: str, deadline: dt.date | None, today: dt.date) -> bool:
    """LC-3: past the deadline without opposition, the space opens."""
    return state == NOTIFIED and deadline is not None and today > deadline


def archive_purge_day(closed_on: dt.date, years: int = 10) -> dt.date:
    """LC-5: a closed space's archive is purged after 10 years (29 February → 28 February)."""
    try:
        return closed_on.replace(year=closed_on.year + years)
    except ValueError:
        return closed_on.replace(year=closed_on.year + years, day=28)


def suspension_close_day(suspended_on: dt.date, weeks: int = 6) -> dt.date:
    """LC-6: without objection, a suspended space is closed 6 weeks after suspension."""
    return suspended_on + dt.timedelta(weeks=weeks)


def objection_deadline(suspended_on: dt.date, weeks: int = 6) -> dt.date:
    """LC-6: the last day the holder may object to a suspension, the eve of its closing."""
    return suspension_close_day(suspended_on, weeks) - dt.timedelta(days=1)


def may_object(state: str, suspended_on: dt.date | None, today: dt.date, weeks: int = 6) -> bool:
    """LC-6: a suspended space may be objected to until (and including) the deadline day."""
    return (
        state == SUSPENDED
        and suspended_on is not None
        and today <= objection_deadline(suspended_on, weeks)
    )


# LC-6 (Carnet decision): why the holder objects, as a choice; free text comes apart (sealed).
OBJECTION_REASONS = ("mistake", "resolved", "care-needs", "other")
# The operator's answer to an objection: the suspension stands, or the space is active again.
OBJECTION_DECISIONS = ("uphold", "lift")


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Age in whole years on `day` (a 29 February birthday counts on 1 March in other years)."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def majority_day(birth_date: dt.date, majority_age: int = 18) -> dt.date:
    """REP-3: the day a person comes of age (a 29 February birth: 1 March, as `age_on` counts)."""
    try:
        return birth_date.replace(year=birth_date.year + majority_age)
    except ValueError:
        return dt.date(birth_date.year + majority_age, 3, 1)


def is_minor(birth_date: dt.date, day: dt.date, majority_age: int = 18) -> bool:
    """REP-1, REP-3: minors' spaces are managed by their representatives until majority."""
    return age_on(birth_date, day) < majority_age


# -- provisional codes (LC-1, LC-4) ---------------------------------------------------------

# No 0/O, 1/I/L, 5/S, 2/Z, 8/B: what remains cannot be misread on a letter or a phone screen.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 12


def new_code(choice: Callable[[str], str]) -> str:
    """A fresh provisional code (12 characters, ~55 bits); `choice` is `secrets.choice`."""
    return "".join(choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """`XXXX-XXXX-XXXX`, as printed on notices."""
    return "-".join(code[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(typed: str) -> str | None:
    """What the person typed, without dashes and spaces, upper-cased; None if it cannot be a code."""
    code = re.sub(r"[\s\-]", "", typed).upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


def code_hash_input(nir: str, code: str) -> str:
    """What the keyed hash of a code covers: the same code for two people hashes differently."""
    return f"code|{nir}|{code}"


# Separators people put between day, month and year ("" for none).
DATE_SEPARATORS = ("", "/", "-", ".", " ", "_")


def birth_date_forms(birth_date: dt.date) -> frozenset[str]:
    """LC-4: every usual way of writing `birth_date` in digits, for the password rule: day,
    month and year in French order (01/01/1980), ISO order (1980-01-01) and US order
    (01/31/1980), with or without leading zeros, with a 4- or 2-digit year, glued or separated
    by / - . space or _. Glued forms shorter than 6 digits (1180) are left out: too many
    passwords hold them by chance."""
    days = {f"{birth_date.day:02d}", str(birth_date.day)}
    months = {f"{birth_date.month:02d}", str(birth_date.month)}
    years = {f"{birth_date.year:04d}", f"{birth_date.year % 100:02d}"}
    forms: set[str] = set()
    for separator in DATE_SEPARATORS:
        for day in days:
            for month in months:
                for year in years:
                    for parts in ((day, month, year), (year, month, day), (month, day, year)):
                        text = separator.join(parts)
                        if separator or len(text) >= 6:
                            forms.add(text)
    return frozenset(forms)


def contains_birth_date(password: str, birth_date: dt.date) -> bool:
    """LC-4: the password holds the birth date in one of its usual forms, anywhere in it."""
    return any(form in password for form in birth_date_forms(birth_date))
