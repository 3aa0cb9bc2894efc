"""Demo documents: small generated PDFs deposited by the demo professionals (rules DOC-1, DOC-7)."""

from __future__ import annotations

import datetime as dt

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts.models import Holder, Professional
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import deposits
from carnet.documents.models import Document
from carnet.vault.service import Vault

# (holder key, author key, LOINC type, title, days ago, body lines, flags)
DOCUMENTS: list[tuple[str, str, str, str, int, list[str], dict[str, bool]]] = [
    (
        "mother",
        "biologist",
        "11502-2",
        "Bilan sanguin annuel",
        40,
        [
            "Hémoglobine : 13,4 g/dL (12-16)",
            "Glycémie à jeun : 0,92 g/L (0,70-1,10)",
            "Cholestérol total : 1,85 g/L",
            "Conclusion : bilan sans anomalie.",
        ],
        {},
    ),
    (
        "mother",
        "gp",
        "11488-4",
        "Consultation de suivi",
        20,
        [
            "Motif : renouvellement de traitement.",
            "Tension artérielle : 12/8.",
            "Conduite à tenir : poursuite du traitement, contrôle dans 6 mois.",
        ],
        {},
    ),
    (
        "mother",
        "radiologist",
        "18748-4",
        "Échographie abdominale",
        75,
        [
            "Indication : douleurs abdominales.",
            "Foie, vésicule et reins sans particularité.",
            "Conclusion : examen normal.",
        ],
        {},
    ),
    (
        "father",
        "gp",
        "57833-6",
        "Ordonnance",
        10,
        [
            "Amoxicilline 1 g : 1 comprimé matin et soir pendant 6 jours.",
            "Paracétamol 1 g : si douleur, 3 fois par jour maximum.",
        ],
        {},
    ),
    (
        "father",
        "dentist",
        "83836-7",
        "Schéma dentaire",
        200,
        ["Soins conservateurs sur 36.", "Détartrage réalisé.", "Prochain contrôle dans un an."],
        {},
    ),
    (
        "teen",
        "gp",
        "87273-9",
        "Note de vaccination",
        120,
        ["Vaccin HPV (Gardasil 9) : 2e dose administrée.", "Lot : DEMO-0001."],
        {},
    ),
    (
        "teen",
        "gp",
        "11488-4",
        "Consultation (confidentielle)",
        30,
        ["Consultation demandée par la patiente, secret vis-à-vis des représentants légaux."],
        {"invisible_to_representatives": True},
    ),
    (
        "newborn",
        "midwife",
        "15508-5",
        "Compte rendu d'accouchement",
        54,
        [
            "Naissance à terme, voie basse.",
            "Poids 3,420 kg, taille 50 cm, PC 35 cm.",
            "Apgar 10/10.",
        ],
        {},
    ),
    (
        "newborn",
        "pediatrician",
        "59283-2",
        "Examen du 8e jour",
        46,
        ["Examen clinique normal.", "Dépistage néonatal réalisé."],
        {},
    ),
    (
        "elder",
        "gp",
        "60591-5",
        "Synthèse médicale",
        15,
        [
            "Antécédents : hypertension artérielle, prothèse de hanche droite (2019).",
            "Traitement : ramipril 5 mg/j.",
            "Allergie : pénicilline.",
        ],
        {},
    ),
    (
        "elder",
        "pharmacist",
        "60593-1",
        "Dispensation médicamenteuse",
        5,
        ["Ramipril 5 mg, boîte de 90.", "Conseils : prise le matin."],
        {},
    ),
]


def pdf(title: str, author: str, day: dt.date, lines: list[str]) -> bytes:
    page = FPDF(format="A4")
    page.set_title(title)
    page.add_page()
    page.set_font("helvetica", "B", 16)
    page.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    page.set_font("helvetica", size=11)
    page.cell(0, 8, f"{author} - {day.strftime('%d/%m/%Y')}", new_x="LMARGIN", new_y="NEXT")
    page.ln(4)
    for line in lines:
        page.multi_cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    page.ln(6)
    page.set_font("helvetica", "I", 9)
    page.cell(0, 6, "Document fictif de démonstration - Carnet")
    return bytes(page.output())


def deposit_demo_documents(
    session: Session,
    vault: Vault,
    settings: Settings,
    holders: dict[str, Holder],
    professionals: dict[str, Professional],
    today: dt.date,
) -> int:
    """Deposit the demo documents not deposited yet (idempotent through master identifiers)."""
    created = 0
    for n, (who, by, loinc, title, days_ago, lines, flags) in enumerate(DOCUMENTS):
        holder = holders[who]
        master = f"urn:oid:1.2.250.1.999.1.{n + 1}"
        exists = session.scalars(
            select(Document.id).where(
                Document.holder_id == holder.id, Document.master_identifier == master
            )
        ).first()
        if exists is not None:
            continue
        author = professionals[by]
        day = today - dt.timedelta(days=days_ago)
        deposits.deposit(
            session,
            vault,
            settings,
            Principal(PrincipalKind.PROFESSIONAL, author.id),
            holder,
            deposits.NewDocument(
                content=pdf(title, author.name, day, lines),
                title=title,
                declared_type="application/pdf",
                type_code=loinc,
                care_date=day,
                master_identifier=master,
                author_rpps=author.rpps,
                notify=False,
                invisible_to_representatives=flags.get("invisible_to_representatives", False),
            ),
        )
        created += 1
    return created
