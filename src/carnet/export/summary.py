"""The one-click summary PDF of the profile (issue 7 item 5), in French, rendered with fpdf2.

Pure rendering from what the services already opened for the caller: this module reads nothing and
decides nothing. The PDF metadata carries no personal data (viewers show it, systems index it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from carnet.accounts.models import Holder
from carnet.accounts.proof import new_document, printable
from carnet.documents.cda import Line
from carnet.profile import rules as profile_rules

# The PDF core fonts (no font file to ship) cover Windows-1252: French text prints as is.

SEVERITY_FR = {"mild": "légère", "moderate": "modérée", "severe": "sévère"}
MEASURE_FR = {
    "weight": "Poids",
    "height": "Taille",
    "waist": "Tour de taille",
    "temperature": "Température",
    "glucose": "Glycémie",
    "systolic": "Pression systolique",
    "diastolic": "Pression diastolique",
    "pain": "Douleur",
    "heart_rate": "Fréquence cardiaque",
    "head_circumference": "Périmètre crânien",
    "steps": "Pas par jour",
    "hba1c": "HbA1c",
}


@dataclass(frozen=True)
class Report:
    """A structured (CDA) document in the summary: its narrative as text lines (`cda.outline`);
    a level-1 document (`embedded`) by its title only, its file is not appended."""

    title: str
    date: dt.date
    lines: Sequence[Line] = ()
    embedded: bool = False


@dataclass(frozen=True)
class SummaryData:
    """What the summary shows, already opened and filtered by the services."""

    holder: Holder
    sections: Mapping[str, Sequence[Mapping[str, Any]]]  # section → contents, newest first
    wishes: Sequence[tuple[str, Mapping[str, Any]]]  # (kind, content)
    generated_at: dt.datetime
    bmi: float | None = None
    reports: Sequence[Report] = ()


def _day(value: Any) -> str:
    if not value:
        return ""
    try:
        return dt.date.fromisoformat(str(value)[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


def latest_measurements(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The latest value of each measured kind (items newest first), in the rules' order."""
    latest: dict[str, Mapping[str, Any]] = {}
    for item in items:
        kind = str(item.get("kind"))
        known = latest.get(kind)
        if known is None or str(item.get("date")) > str(known.get("date")):
            latest[kind] = item
    order = list(profile_rules.MEASURES)
    return [latest[k] for k in sorted(latest, key=lambda k: order.index(k) if k in order else 99)]


def _lines(data: SummaryData) -> list[tuple[str, list[str]]]:
    s = data.sections
    blocks: list[tuple[str, list[str]]] = []
    blood = s.get(profile_rules.BLOOD_GROUP) or []
    blocks.append(("Groupe sanguin", [str(blood[0]["value"])] if blood else []))
    allergies = []
    for a in s.get(profile_rules.ALLERGY, []):
        kind = "intolérance" if a.get("type") == "intolerance" else "allergie"
        text = f"{a['substance']} ({kind}"
        if a.get("severity"):
            text += f", {SEVERITY_FR.get(str(a['severity']), a['severity'])}"
        text += ")"
        if a.get("reaction"):
            text += f" : {a['reaction']}"
        allergies.append(text)
    blocks.append(("Allergies et intolérances", allergies))
    treatments = []
    for t in s.get(profile_rules.TREATMENT, []):
        if not t.get("current", True):
            continue
        text = str(t["label"])
        if t.get("dosage"):
            text += f" — {t['dosage']}"
        if t.get("atc"):
            text += f" (ATC {t['atc']})"
        treatments.append(text)
    blocks.append(("Traitements en cours", treatments))
    illnesses = []
    for i in s.get(profile_rules.ILLNESS, []):
        status = "en cours" if i.get("status") == "current" else "passée"
        since = f", depuis le {_day(i['since'])}" if i.get("since") else ""
        illnesses.append(f"{i['label']} ({status}{since})")
    blocks.append(("Maladies", illnesses))
    vaccinations = []
    for v in s.get(profile_rules.VACCINATION, []):
        booster = ", rappel" if v.get("booster") else ""
        vaccinations.append(
            f"{_day(v['date'])} : {v['vaccine']} (dose {v.get('dose_number', 1)}{booster})"
        )
    blocks.append(("Vaccinations", vaccinations))
    measures = []
    for m in latest_measurements(s.get(profile_rules.MEASUREMENT, [])):
        kind = str(m.get("kind"))
        label = MEASURE_FR.get(kind, kind)
        measures.append(f"{label} : {m['value']} {m.get('unit') or ''} ({_day(m.get('date'))})")
    if data.bmi is not None:
        measures.append(f"IMC : {data.bmi:.1f} kg/m2")
    blocks.append(("Dernières mesures", measures))
    contacts, trusted = [], []
    for kind, content in data.wishes:
        who = str(content.get("name", ""))
        reach = " — ".join(str(content[k]) for k in ("phone", "email") if content.get(k))
        if kind == "emergency_contact":
            relation = f" ({content['relation']})" if content.get("relation") else ""
            contacts.append(f"{who}{relation}" + (f" : {reach}" if reach else ""))
        elif kind == "trusted_person":
            trusted.append(who + (f" : {reach}" if reach else ""))
    blocks.append(("Personnes à prévenir en cas d'urgence", contacts))
    blocks.append(("Personne de confiance", trusted))
    return blocks


def _reports(pdf: Any, reports: Sequence[Report]) -> None:
    """The latest structured documents: title and date, then section titles and their text."""
    pdf.ln(3)
    pdf.set_font("helvetica", style="B", size=13)
    pdf.cell(0, 8, printable("Derniers comptes rendus structurés"), new_x="LMARGIN", new_y="NEXT")
    for report in reports:
        pdf.ln(2)
        pdf.set_font("helvetica", style="B", size=11)
        heading = f"{report.title} ({report.date.strftime('%d/%m/%Y')})"
        pdf.multi_cell(0, 6, printable(heading), new_x="LMARGIN", new_y="NEXT")
        if report.embedded:
            pdf.set_font("helvetica", style="I", size=10)
            pdf.multi_cell(0, 5, printable("Document joint (PDF ou image) : à ouvrir dans Carnet."),
                           new_x="LMARGIN", new_y="NEXT")  # fmt: skip
        for line in report.lines:
            pdf.set_font("helvetica", style="B" if line.title else "", size=10)
            pdf.set_x(pdf.l_margin + 4 * min(line.depth, 4))
            pdf.multi_cell(0, 5, printable(line.text), new_x="LMARGIN", new_y="NEXT")


def render(data: SummaryData, timezone: str = "Europe/Paris") -> bytes:
    from zoneinfo import ZoneInfo

    holder = data.holder
    pdf = new_document("Synthèse de santé", data.generated_at)
    pdf.set_font("helvetica", size=9)
    local = data.generated_at.astimezone(ZoneInfo(timezone))
    pdf.cell(
        0, 6, printable(f"Établie le {local.strftime('%d/%m/%Y à %H:%M')}"),
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.ln(4)
    identity = (
        ("Nom de naissance", holder.birth_name),
        ("Prénoms", holder.first_names),
        ("Date de naissance", holder.birth_date.strftime("%d/%m/%Y")),
        ("Sexe", {"M": "masculin", "F": "féminin"}.get(holder.sex, "indéterminé")),
        ("N° de sécurité sociale", holder.nir),
    )
    pdf.set_font("helvetica", style="B", size=13)
    pdf.cell(0, 8, printable("Identité"), new_x="LMARGIN", new_y="NEXT")
    for label, value in identity:
        pdf.set_font("helvetica", style="B", size=11)
        pdf.cell(55, 7, printable(label) + " :")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 7, printable(value), new_x="LMARGIN", new_y="NEXT")
    for title, lines in _lines(data):
        pdf.ln(3)
        pdf.set_font("helvetica", style="B", size=13)
        pdf.cell(0, 8, printable(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        for line in lines or ["Non renseigné"]:
            pdf.multi_cell(0, 6, printable(f"- {line}" if lines else line),
                           new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    if data.reports:
        _reports(pdf, data.reports)
    pdf.ln(6)
    pdf.set_font("helvetica", style="I", size=9)
    pdf.multi_cell(
        0, 5,
        printable("Document établi à partir des informations de l'espace santé Carnet. Il ne "
                  "remplace pas l'avis d'un professionnel de santé."),
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    return bytes(pdf.output())
