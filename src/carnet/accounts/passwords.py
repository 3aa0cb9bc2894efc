"""Passwords (rule LC-4): the policy in plain words, argon2id hashing, and a verification that
costs the same whether or not the account exists.
"""

from __future__ import annotations

import datetime as dt
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from carnet.accounts import rules

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

PASSWORD_MIN = 12


def password_problem(password: str, username: str, birth_date: dt.date) -> str | None:
    """A sensible policy, explained in plain words (long passphrases beat symbol rules)."""
    if len(password) < PASSWORD_MIN:
        return f"The password must have at least {PASSWORD_MIN} characters."
    if len(password) > 256:
        return "The password must have at most 256 characters."
    if len(set(password)) < 5:
        return "The password repeats too few different characters."
    lowered = password.lower()
    if username and username.lower() in lowered:
        return "The password must not contain the username."
    if rules.contains_birth_date(password, birth_date):  # every usual form (LC-4)
        return "The password must not contain the birth date."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Argon2 verification; without an account, the same verification against a dummy hash, so
    that an unknown username costs what a wrong password costs (no oracle of who has a space)."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """An argon2 hash of a random secret nobody knows, made once per process."""
    if not _DUMMY:
        _DUMMY.append(_hasher.hash(secrets.token_urlsafe(32)))
    return _DUMMY[0]
