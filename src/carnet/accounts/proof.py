"""The PDF proof of an opposition (rule LC-2), downloadable without login through its random id.

The proof states who opposed (name and a masked NIR: the full number is never printed, so a proof
that goes astray does not give the INS away), what was opposed and when (Europe/Paris time).
It is rendered on demand from the opposition row: nothing is stored but the row itself.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from zoneinfo import ZoneInfo

from fpdf import FPDF
from sqlalchemy.orm import Session

from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder, OppositionProof
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.errors import NotFound

NIR_MASK = "••••"
# The PDF core fonts (no font file to ship) cover Windows-1252: French text and the mask bullet.
_ENCODING = "windows-1252"

SCOPE_TEXT = {
    "space": "à la création de son espace santé Carnet (règle LC-2)",
    "dmp-migration": (
        "à la reprise de son ancien dossier médical partagé (DMP) dans son espace santé (règle LC-3)"
    ),
}


def masked_nir(nir: str) -> str:
    """The first 5 characters (sex, year and month of birth) and a mask: enough to recognise it."""
    return nir[:5] + NIR_MASK


def printable(text: str) -> str:
    """What the core fonts can print: accents kept, other scripts reduced to their base letters."""
    try:
        text.encode(_ENCODING)
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        try:
            char.encode(_ENCODING)
            out.append(char)
        except UnicodeEncodeError:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            try:
                base.encode(_ENCODING)
                out.append(base or "?")
            except UnicodeEncodeError:
                out.append("?")
    return "".join(out)


def new_document(title: str, created: dt.datetime) -> FPDF:
    """An A4 page of Carnet's PDF documents (the proof, the summary) headed "Carnet" and `title`.
    The core fonts need no font file; the metadata carries no personal data: viewers show it and
    systems index it."""
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = _ENCODING
    pdf.set_creation_date(created)
    pdf.set_title(title)
    pdf.set_author("Carnet")
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    pdf.set_font("helvetica", style="B", size=18)
    pdf.cell(0, 12, "Carnet", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", style="B", size=15)
    pdf.cell(0, 10, printable(title), new_x="LMARGIN", new_y="NEXT")
    return pdf


def opposition_proof_pdf(
    *,
    proof_id: uuid.UUID,
    opposed_at: dt.datetime,
    first_names: str,
    birth_name: str,
    nir: str,
    scope: str,
    timezone: str = "Europe/Paris",
) -> bytes:
    """Render the proof. The document is in French, the language of every notice (LC-1)."""
    local = opposed_at.astimezone(ZoneInfo(timezone))
    pdf = new_document("Attestation d'opposition", opposed_at)
    pdf.ln(6)

    pdf.set_font("helvetica", size=11)
    rows = (
        ("Nom de naissance", birth_name),
        ("Prénoms", first_names),
        ("N° de sécurité sociale", masked_nir(nir)),
        ("Date de l'opposition", local.strftime("%d/%m/%Y")),
        ("Heure de l'opposition", f"{local.strftime('%H:%M:%S')} (fuseau {timezone})"),
        ("Référence", str(proof_id)),
    )
    for label, value in rows:
        pdf.set_font("helvetica", style="B", size=11)
        pdf.cell(60, 8, printable(label) + " :")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 8, printable(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    what = SCOPE_TEXT.get(scope, SCOPE_TEXT["space"])
    text = (
        f"Carnet atteste que la personne désignée ci-dessus s'est opposée {what}, le "
        f"{local.strftime('%d/%m/%Y')} à {local.strftime('%H:%M')}.\n\n"
        "Cette opposition a été enregistrée sans connexion, avec le numéro de sécurité sociale et "
        "le code provisoire reçu par courrier ou par courriel.\n\n"
        "Elle peut être retirée à tout moment en demandant la création de l'espace santé."
    )
    pdf.multi_cell(0, 6, printable(text), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def find_proof(session: Session, proof_id: str) -> tuple[OppositionProof, Holder]:
    """rule LC-2: the random proof id is the capability; anything else is 404."""
    try:
        key = uuid.UUID(proof_id)
    except ValueError:
        raise NotFound("No such proof of opposition.") from None
    proof = session.get(OppositionProof, key)
    holder = account_service.holder(session, proof.holder_id) if proof is not None else None
    if proof is None or holder is None:
        raise NotFound("No such proof of opposition.")
    return proof, holder


def download_proof(
    session: Session, settings: Settings, proof_id: str, *, request_id: str | None
) -> tuple[bytes, str]:
    """rule LC-2: the PDF proof of `proof_id` and its file name; ACC-8: the download is recorded."""
    proof, holder = find_proof(session, proof_id)
    # The scope is not stored with the proof: an opposed space means the space itself was opposed.
    scope = (
        "dmp-migration"
        if holder.dmp_migration_opposed and holder.state != account_rules.OPPOSED
        else "space"
    )
    pdf = opposition_proof_pdf(
        proof_id=proof.id,
        opposed_at=proof.opposed_at,
        first_names=holder.first_names,
        birth_name=holder.birth_name,
        nir=holder.nir,
        scope=scope,
        timezone=settings.timezone,
    )
    record(
        session,
        SYSTEM,
        "account.opposition-proof-download",
        holder_id=holder.id,
        target_type="OppositionProof",
        target_id=str(proof.id),
        request_id=request_id,
    )
    return pdf, f"carnet-opposition-{proof.opposed_at.date().isoformat()}.pdf"
