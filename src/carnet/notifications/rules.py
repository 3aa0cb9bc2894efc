"""Outbox rules, pure functions: retry backoff and what counts as a deliverable address."""

from __future__ import annotations

import datetime as dt
import re

FIRST_RETRY_DELAY = dt.timedelta(minutes=1)
MAX_RETRY_DELAY = dt.timedelta(hours=6)
# A message claimed for sending holds a lease this long; past it, the sender is presumed crashed.
SENDING_LEASE = dt.timedelta(minutes=10)

# 2**9 minutes already exceeds the cap; bounding the exponent keeps huge attempt counts cheap.
_MAX_EXPONENT = 16

# Deliberately simple: one @, no spaces, no characters that could smuggle a second header or address.
_EMAIL_RE = re.compile(r"[^@\s<>,;:\"'()\[\]\\]+@[^@\s<>,;:\"'()\[\]\\]+\.[^@\s<>,;:\"'()\[\]\\.]+")
MAX_EMAIL_LENGTH = 254


def next_attempt_delay(attempts: int) -> dt.timedelta:
    """How long to wait after `attempts` failed attempts: 1 min, 2, 4… capped at 6 h.

    Exponential so a mail server that is down for hours is not hammered, capped so that mail resumes
    within a few hours of it coming back.
    """
    exponent = min(max(attempts, 1) - 1, _MAX_EXPONENT)
    return min(FIRST_RETRY_DELAY * (1 << exponent), MAX_RETRY_DELAY)


def is_valid_email(value: str) -> bool:
    """Whether `value` looks like a single plain e-mail address (no display name)."""
    return len(value) <= MAX_EMAIL_LENGTH and _EMAIL_RE.fullmatch(value) is not None
