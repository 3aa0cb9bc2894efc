"""Provisional codes and notice texts in bulk (rule LC-1): a million notices at the cost of a string
substitution each, their text still coming from `accounts.notices`."""

from __future__ import annotations

import datetime as dt
import secrets

from carnet.accounts import notices, rules
from carnet.accounts.models import Holder

NOTICE_KIND = "account.notice"
NOTICE_SUBJECT = "Votre espace santé Carnet"  # the subject `notices.send_notice` uses

_CODE_TABLE = bytes(ord(rules.CODE_ALPHABET[b % len(rules.CODE_ALPHABET)]) for b in range(256))
# Bytes from 250 up are dropped: 250 = 10 x 25, so every letter of the alphabet stays equally likely.
_CODE_LIMIT = 256 - 256 % len(rules.CODE_ALPHABET)
_CODE_DROP = bytes(range(_CODE_LIMIT, 256))


def new_codes(count: int) -> list[str]:
    """`count` provisional codes (LC-1): 12 characters of `rules.CODE_ALPHABET` each, drawn from
    `secrets.token_bytes` without modulo bias (rejection of the bytes >= 250)."""
    need = count * rules.CODE_LENGTH
    letters = b""
    while len(letters) < need:
        letters += secrets.token_bytes(need - len(letters) + need // 32 + 16).translate(
            _CODE_TABLE, _CODE_DROP
        )
    text = letters[:need].decode("ascii")
    return [text[i : i + rules.CODE_LENGTH] for i in range(0, need, rules.CODE_LENGTH)]


class NoticeTemplate:
    """`notices.notice_text` rendered once with markers, then filled in per person: the text keeps a
    single source while a million notices cost a string substitution each. A self-check against
    `notice_text` itself falls back to calling it per person if the text ever stops fitting."""

    _FIRST = "\x02first\x02"
    _LAST = "\x02last\x02"
    _CODE = "\x03" * rules.CODE_LENGTH

    def __init__(self, base_url: str, deadline: dt.date) -> None:
        self.base_url = base_url
        self.deadline = deadline
        sample = Holder(first_names=self._FIRST, birth_name=self._LAST)
        text = notices.notice_text(sample, self._CODE, NOTICE_KIND, deadline, base_url)
        code = rules.format_code(self._CODE)
        self._template: str | None = None
        if all(text.count(m) == 1 for m in (self._FIRST, self._LAST, code)):
            self._template = (
                text.replace("%", "%%")
                .replace(self._FIRST, "%(f)s")
                .replace(self._LAST, "%(l)s")
                .replace(code, "%(c)s")
            )
            check = self.render("Zoé", "L'Hôte", "ACDEFGHJKMNP")
            expected = notices.notice_text(
                Holder(first_names="Zoé", birth_name="L'Hôte"),
                "ACDEFGHJKMNP",
                NOTICE_KIND,
                deadline,
                base_url,
            )
            if check != expected:
                self._template = None

    def render(self, first_names: str, birth_name: str, code: str) -> str:
        if self._template is None:
            holder = Holder(first_names=first_names, birth_name=birth_name)
            return notices.notice_text(holder, code, NOTICE_KIND, self.deadline, self.base_url)
        # `rules.format_code` for 12 characters (the self-check above compares the two).
        formatted = f"{code[:4]}-{code[4:8]}-{code[8:]}"
        return self._template % {"f": first_names, "l": birth_name, "c": formatted}
