"""Exported documents keep the extension of their type (SRV-5, issue 16: files without one did
not open on the holder's computer)."""

from __future__ import annotations

import uuid

import pytest

from carnet.documents.models import Document
from carnet.export.archive import document_file_name

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("mime_type", "name", "expected"),
    [
        ("application/pdf", "Compte rendu", f"{ID}-compte-rendu.pdf"),
        ("application/pdf", "ordonnance.PDF", f"{ID}-ordonnance.pdf"),
        ("text/xml", "CR-BIO", f"{ID}-cr-bio.xml"),
        ("image/jpeg", "radio.jpg", f"{ID}-radio.jpg"),
        ("image/png", "Courbe", f"{ID}-courbe.png"),
        ("text/plain; charset=utf-8", "Note", f"{ID}-note.txt"),
    ],
)
def test_a_document_file_has_its_types_extension(mime_type: str, name: str, expected: str) -> None:
    assert document_file_name(Document(id=ID, mime_type=mime_type), name) == expected
