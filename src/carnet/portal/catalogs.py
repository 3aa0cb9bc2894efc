"""The portal's message catalogues: extract, update, compile, check (Babel).

    python -m carnet.portal.catalogs update    # sources -> messages.pot -> fr/en .po
    python -m carnet.portal.catalogs compile   # .po -> .mo (committed: they ship in the wheel)
    python -m carnet.portal.catalogs check     # exit 1 when a catalogue is out of date

Messages are English msgids. `update` fills the English catalogue with the msgids themselves
(English is the source language) and leaves new French entries empty, for a translator; `check`
fails on an empty or fuzzy French entry, so none reaches a page untranslated.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from carnet.portal.i18n import DOMAIN, LOCALES, TRANSLATIONS_DIR

PACKAGE_DIR = Path(__file__).parent
POT_FILE = TRANSLATIONS_DIR / f"{DOMAIN}.pot"
METHOD_MAP = [
    ("**/catalogs.py", "ignore"),
    ("**.py", "python"),
    ("templates/**.html", "jinja2"),
]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}
# Fixed dates keep the files identical from one run to the next (reviewable diffs).
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def po_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


def extract() -> Catalog:
    """Every message of the portal's Python modules and templates."""
    catalog = Catalog(
        project="Carnet",
        version="portal",
        copyright_holder="Carnet contributors",
        charset="utf-8",
        creation_date=EPOCH,
        revision_date=EPOCH,
        fuzzy=False,
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE_DIR), METHOD_MAP, OPTIONS, strip_comment_tags=True
    ):
        catalog.add(
            message,
            None,
            [(filename, lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, sort_output=True, omit_header=False)
    return out.getvalue()


def _mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def _english(catalog: Catalog) -> None:
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            message.string = tuple(message.id)
        else:
            message.string = message.id
        message.flags.discard("fuzzy")


def updated(locale: str, template: Catalog) -> Catalog:
    """The locale's catalogue merged with `template` (new entries empty; English filled)."""
    path = po_path(locale)
    if path.exists():
        catalog = _read(path, locale)
    else:
        catalog = Catalog(locale=locale, project="Carnet", version="portal", fuzzy=False)
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    catalog.creation_date = EPOCH
    catalog.revision_date = EPOCH
    catalog.fuzzy = False
    if locale == "en":
        _english(catalog)
    return catalog


def update() -> None:
    template = extract()
    POT_FILE.parent.mkdir(parents=True, exist_ok=True)
    POT_FILE.write_bytes(_po_bytes(template))
    for locale in LOCALES:
        path = po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_po_bytes(updated(locale, template)))


def compile_all() -> None:
    for locale in LOCALES:
        mo_path(locale).write_bytes(_mo_bytes(_read(po_path(locale), locale)))


def problems() -> Iterator[str]:
    """What is out of date: the template, a catalogue, a compiled file, a missing translation."""
    template = extract()
    if not POT_FILE.exists() or {m.id for m in _read(POT_FILE) if m.id} != {
        m.id for m in template if m.id
    }:
        yield f"{POT_FILE.name} is not up to date: run `python -m carnet.portal.catalogs update`"
    for locale in LOCALES:
        path = po_path(locale)
        if not path.exists():
            yield f"{locale}: no catalogue"
            continue
        catalog = _read(path, locale)
        missing = {m.id for m in template if m.id} - {m.id for m in catalog if m.id}
        if missing:
            yield f"{locale}: {len(missing)} message(s) missing, e.g. {sorted(map(str, missing))[0]!r}"
        for message in catalog:
            if message.id and _untranslated(message):
                yield f"{locale}: not translated: {message.id!r}"
        if not mo_path(locale).exists() or mo_path(locale).read_bytes() != _mo_bytes(catalog):
            yield f"{locale}: {mo_path(locale).name} differs from the .po: run `compile`"


def _untranslated(message: Message) -> bool:
    if message.fuzzy:
        return True
    strings = message.string if isinstance(message.string, tuple | list) else [message.string]
    return not all(strings)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        update()
        return 0
    if command == "compile":
        compile_all()
        return 0
    if command == "check":
        found = list(problems())
        for problem in found:
            print(problem, file=sys.stderr)
        return 1 if found else 0
    print("usage: python -m carnet.portal.catalogs update|compile|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
