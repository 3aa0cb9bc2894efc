"""Identity rules, pure functions (rules ID-1, ID-2)."""

from __future__ import annotations

import re

# rule ID-1: INS identifier systems.
INS_NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
INS_NIA_SYSTEM = "urn:oid:1.2.250.1.213.1.4.9"
# rule ID-2: RPPS identifier system.
RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"

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


def nir_problem(value: str) -> str | None:
    """Why `value` is not a valid NIR/NIA (rule ID-1), or None when it is."""
    nir = normalize_nir(value)
    if len(nir) != 15:
        return "a NIR has 13 characters and a 2-digit key (15 in all)"
    if not _NIR_RE.match(nir):
        return "a NIR is made of digits (2A/2B allowed for Corsica) and starts with 1, 2, 3, 7 or 8"
    if nir_key(nir[:13]) != int(nir[13:]):
        return "the NIR key does not match (97 minus the number modulo 97)"
    return None


def is_valid_nir(value: str) -> bool:
    return nir_problem(value) is None


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
