"""What the holder API says about documents, folders and document preferences (DOC-1…DOC-7).

Documents keep the ids of the FHIR DocumentReferences (one row, two front doors). A document that
awaits its announcement consultation (DOC-4) is never described here: the list only counts them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class DocumentOut(BaseModel):
    """One document as its holder (or someone acting for them) sees it."""

    id: uuid.UUID = Field(description="Also the id of the FHIR DocumentReference.")
    title: str
    category: str = Field(description="Patient-facing category code (categories.csv).")
    category_label: str = Field(description="The category, in French.")
    type_code: str | None = Field(description="LOINC type (DOC-1); none for holder uploads.")
    type_label: str | None = Field(description="The type, in French.")
    author: str = Field(
        description='"me" for what the caller added; otherwise a name, and for professionals '
        "their profession."
    )
    author_kind: Literal["me", "holder", "professional", "migration", "unknown"]
    author_profession: str | None = Field(description="TRE_G15 profession label (ID-2).")
    source: str = Field(description="professional | holder | dmp-migration")
    care_date: dt.date | None
    deposited_at: dt.datetime
    mime_type: str
    size: int
    file_name: str | None = Field(description="The uploaded file's name, when there was one.")
    masked: bool = Field(description="Masked to professionals (DOC-3).")
    pinned: bool
    folder_id: uuid.UUID | None
    status: str = Field(description="current | superseded")
    version: int
    deletable: bool = Field(description="False for documents flagged not deletable (DOC-6).")


class DocumentList(BaseModel):
    total: int = Field(description="Documents matching the criteria (readable ones only).")
    page: int
    per_page: int
    awaiting_announcement: int = Field(
        description="DOC-4: documents waiting for an announcement consultation. Only counted: "
        "neither their title nor their kind is ever shown before they become visible."
    )
    items: list[DocumentOut]


class DocumentChange(_Strict):
    """Holder-side changes (DOC-3, DOC-6). `folder_id: null` takes the document out of its folder."""

    title: str | None = Field(None, min_length=1, max_length=300)
    folder_id: uuid.UUID | None = None
    pinned: bool | None = None
    masked: bool | None = Field(None, description="Mask from professionals, or unmask (DOC-3).")


class FolderIn(_Strict):
    name: str = Field(min_length=1, max_length=100)


class FolderOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: dt.datetime


class PreferencesIn(_Strict):
    """DOC-5: the default confidentiality of future documents; DOC-7: whether to be told."""

    mask_new_documents: bool | None = None
    notify_new_documents: bool | None = None


class PreferencesOut(BaseModel):
    mask_new_documents: bool = Field(description="New documents start masked (DOC-5).")
    notify_new_documents: bool = Field(description="An e-mail for each new document (DOC-7).")
