"""What a reader is shown of a document, decided once for the holder API and the portal.

The facts come from here: who added the document (ID-2: a professional by name and profession,
found by id or RPPS), its category and type (DOC-1), the date shown (care date, else deposit), how
the content opens (inline or downloaded), whether it is new, deletable (DOC-6) and its file name.
The API turns them into JSON (`documents.api.common.describe`); the portal formats them with its
own formatter and translations (`portal.views.documents.describe`). Neither reads anything the
decision point did not already let through: `docs` are documents the caller may read.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal
from carnet.documents import reference, service, sniff
from carnet.documents.models import Document
from carnet.vault.service import Vault

# A document added these last days is shown as new.
NEW_DAYS = 30
# DOC-1: what a file's name claims, checked against what its content is.
NAME_TYPES = {
    ".pdf": sniff.PDF,
    ".jpg": sniff.JPEG,
    ".jpeg": sniff.JPEG,
    ".jpe": sniff.JPEG,
    ".png": sniff.PNG,
    ".tif": sniff.TIFF,
    ".tiff": sniff.TIFF,
    ".rtf": sniff.RTF,
    ".txt": sniff.TEXT,
}
# The extension a downloaded file gets for its real type.
EXTENSIONS = {
    sniff.PDF: ".pdf",
    sniff.JPEG: ".jpg",
    sniff.PNG: ".png",
    sniff.TIFF: ".tif",
    sniff.RTF: ".rtf",
    sniff.TEXT: ".txt",
    sniff.XML: ".xml",
}
# Shown in the browser rather than saved (PDF viewer, images); anything else is an attachment.
INLINE_TYPES = frozenset({sniff.PDF, sniff.JPEG, sniff.PNG})

AuthorKind = Literal["me", "holder", "professional", "migration", "unknown"]


@dataclass(frozen=True)
class Author:
    """Who added a document. `name` is a professional's "name (profession)" or a person's name;
    a professional Carnet does not know is only their RPPS (`rpps`), if any."""

    kind: AuthorKind
    name: str | None = None
    profession: str | None = None
    rpps: str | None = None
    migrated: bool = False  # added by the migration of the former shared record (DMP)


@dataclass(frozen=True)
class Shown:
    """One document as a reader is shown it, before any formatting."""

    doc: Document
    title: str
    author: Author
    doc_type: reference.DocumentType | None
    date: dt.date | dt.datetime  # the care date, else the deposit's
    inline: Literal["pdf", "image", ""]
    deletable: bool
    is_new: bool

    def category_label(self, locale: str = "fr") -> str:
        return category_label(self.doc.category, locale)


def present(
    session: Session, vault: Vault, principal: Principal, docs: Sequence[Document]
) -> list[Shown]:
    """Titles (unsealed), authors, categories and flags of `docs`, in a few queries."""
    author_of = authors(session, principal, docs)
    types = reference.document_types()
    recent = new_since()
    return [
        Shown(
            doc=doc,
            title=service.title_of(session, vault, doc),
            author=author_of(doc),
            doc_type=types.get(doc.type_code) if doc.type_code else None,
            date=doc.care_date or doc.deposited_at,
            inline=_inline(doc.mime_type),
            deletable=not doc.not_deletable,
            is_new=doc.deposited_at >= recent,
        )
        for doc in docs
    ]


def authors(
    session: Session, principal: Principal, docs: Sequence[Document]
) -> Callable[[Document], Author]:
    """Who added each document (ID-2), in two queries."""
    pro_ids = {d.author_id for d in docs if d.author_kind == "professional" and d.author_id}
    rpps = {d.author_rpps for d in docs if d.author_rpps}
    pros = account_service.professionals_by_ids_or_rpps(session, pro_ids, rpps)
    by_id = {p.id: p for p in pros}
    by_rpps = {p.rpps: p for p in pros}
    holder_ids = {
        d.author_id
        for d in docs
        if d.author_kind != "professional" and d.author_id and d.author_id != principal.id
    }
    people = account_service.holders_by_ids(session, holder_ids)

    def author(doc: Document) -> Author:
        migrated = doc.source == "dmp-migration"
        pro = (by_id.get(doc.author_id) if doc.author_id else None) or (
            by_rpps.get(doc.author_rpps) if doc.author_rpps else None
        )
        if pro is not None:
            profession = account_rules.PROFESSIONS.get(pro.profession_code)
            shown = f"{pro.name} ({profession})" if profession else pro.name
            return Author("professional", shown, profession, pro.rpps, migrated)
        if doc.author_kind == "professional" or doc.author_rpps:
            return Author("professional", None, None, doc.author_rpps, migrated)
        if doc.author_id is not None and doc.author_id == principal.id:
            return Author("me")
        person = _person(people, doc.author_id)
        if person is not None:
            return Author("holder", family.display_name(person))
        return Author("migration" if migrated else "unknown", migrated=migrated)

    return author


def category_label(code: str, locale: str = "fr") -> str:
    """A category's label (French, or English for "en"); an unknown code as it is."""
    found = reference.categories().get(code)
    if found is None:
        return code
    return found.label_en if locale == "en" else found.label_fr


def new_since() -> dt.datetime:
    """Documents deposited after this are shown as new."""
    return clock.now() - dt.timedelta(days=NEW_DAYS)


def file_name(session: Session, vault: Vault, doc: Document) -> str | None:
    """The uploaded file's own name, when there was one."""
    return base_name(service.original_name_of(session, vault, doc))


def base_name(file_name: str | None) -> str | None:
    """The file's own name, without any folder a client may have sent, nor control characters."""
    if not file_name:
        return None
    name = re.split(r"[\\/]", file_name)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or None


def _person(people: dict[uuid.UUID, Holder], author_id: uuid.UUID | None) -> Holder | None:
    return people.get(author_id) if author_id else None


def _inline(mime_type: str) -> Literal["pdf", "image", ""]:
    if mime_type == sniff.PDF:
        return "pdf"
    return "image" if mime_type in INLINE_TYPES else ""
