"""Reference tables shipped with Carnet: document types (LOINC, TRE_A04) and patient categories."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class DocumentType:
    loinc: str
    label_fr: str
    label_en: str
    category: str
    sensitivity: str


@dataclass(frozen=True)
class Category:
    code: str
    label_fr: str
    label_en: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("carnet.documents").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def document_types() -> dict[str, DocumentType]:
    """Document types by LOINC code (rule DOC-1)."""
    return {row["loinc"]: DocumentType(**row) for row in _rows("document-types.csv")}


@functools.cache
def categories() -> dict[str, Category]:
    """Patient-facing categories by code."""
    return {row["code"]: Category(**row) for row in _rows("categories.csv")}


LOINC_SYSTEM = "http://loinc.org"
CATEGORY_SYSTEM = "https://carnet.example/fhir/CodeSystem/document-category"
