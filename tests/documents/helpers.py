"""Small valid files for document tests, made on the fly."""

from __future__ import annotations

from fpdf import FPDF


def pdf_bytes(text: str = "Compte rendu") -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, text)
    return bytes(pdf.output())
