"""Languages of the portal: French by default, English too (Babel catalogues, compiled .mo files).

The language is the `carnet_lang` cookie when the person chose one, otherwise the best match of the
browser's Accept-Language, otherwise French. Dates, numbers and sizes are formatted by Babel in that
language. Messages are English msgids translated by `translations/<lang>/LC_MESSAGES/messages.po`;
`python -m carnet.portal.catalogs` extracts, updates and compiles them.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from babel.units import format_unit
from starlette.requests import Request

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"
LANG_COOKIE = "carnet_lang"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated later, where the language is known."""
    return message


def parse_accept_language(header: str) -> list[str]:
    """Language tags of an Accept-Language header, best first (q=0 excluded)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and len(tag) <= 35:
            weighted.append((-quality, position, tag.strip()))
    return [tag for _q, _p, tag in sorted(weighted)]


def negotiate(request: Request) -> str:
    """The language of this request: cookie, then Accept-Language, then French."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in LOCALES:
        return chosen
    for tag in parse_accept_language(request.headers.get("accept-language", "")):
        primary = tag.replace("_", "-").split("-")[0].lower()
        if primary in LOCALES:
            return primary
    return DEFAULT_LOCALE


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of `locale` (English msgids fall back to themselves)."""
    found = Translations.load(str(TRANSLATIONS_DIR), [locale], DOMAIN)
    return found


@dataclass(frozen=True)
class Formatter:
    """Locale-aware formatting for templates and messages."""

    locale: str
    timezone: str = "Europe/Paris"

    def gettext(self, message: str) -> str:
        return translations(self.locale).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return translations(self.locale).ngettext(singular, plural, count)

    def date(self, value: dt.date | dt.datetime | None, form: str = "long") -> str:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            value = value.astimezone(ZoneInfo(self.timezone)).date()
        return format_date(value, format=form, locale=self.locale)

    def datetime(self, value: dt.datetime | None, form: str = "medium") -> str:
        if value is None:
            return ""
        return format_datetime(
            value, format=form, tzinfo=ZoneInfo(self.timezone), locale=self.locale
        )

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def size(self, size: int) -> str:
        """A file size in the locale's words: 820 ko / 820 kB, 1,2 Mo / 1.2 MB."""
        if size < 1024 * 1024:
            amount = max(1, round(size / 1024))
            return format_unit(amount, "digital-kilobyte", length="short", locale=self.locale)
        return format_unit(
            round(size / (1024 * 1024), 1),
            "digital-megabyte",
            length="short",
            locale=self.locale,
        )

    def language_name(self, code: str) -> str:
        """A language's name in that language ("Français", "English"), for the switcher."""
        name = Locale.parse(code).get_display_name(code) or code
        return name[:1].upper() + name[1:]
