"""Pure messaging rules (SRV-1): what a message may carry and how the mailbox quota counts.

Who may write to whom is decided by the decision point (`access.rules.decide_message_*`); this
module only holds the limits that need no facts about people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

SUBJECT_MAX = 200
BODY_MAX = 20_000
MAX_RECIPIENTS = 10  # professionals in to + cc
MAX_ATTACHMENTS = 10  # per message


def subject_problem(subject: str) -> str | None:
    text = subject.strip()
    if not text:
        return "A subject is required."
    if len(text) > SUBJECT_MAX or "\n" in text or "\r" in text:
        return f"A subject is one line of at most {SUBJECT_MAX} characters."
    return None


def body_problem(body: str, *, draft: bool) -> str | None:
    """A sent message says something; a draft may still be empty."""
    if len(body) > BODY_MAX:
        return f"A message has at most {BODY_MAX} characters."
    if not draft and not body.strip():
        return "The message is empty."
    return None


def message_size(body: str, subject: str | None, attachment_sizes: Iterable[int]) -> int:
    """SRV-1: what a message weighs in a mailbox: its text (UTF-8) and its attachments."""
    text = len(body.encode("utf-8")) + (len(subject.encode("utf-8")) if subject else 0)
    return text + sum(attachment_sizes)


def over_quota(used: int, adding: int, quota: int) -> bool:
    """SRV-1: a mailbox never goes past its quota; adding nothing is always possible."""
    return adding > 0 and used + adding > quota


def is_read(read_at: dt.datetime | None, sent_at: dt.datetime | None) -> bool:
    """A party has read a message when it opened the conversation after the message was sent."""
    return read_at is not None and sent_at is not None and read_at >= sent_at


def megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"
