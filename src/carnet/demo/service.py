"""The demo world: a family, an elderly holder, professionals of every kind, an operator.

Every identifier is valid (NIR keys, RPPS Luhn digits) and every person is fictitious.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import Holder, Operator
from carnet.accounts.rules import make_nir, make_rpps
from carnet.accounts.schemas import ProfessionalIn
from carnet.accounts.service import add_operator, upsert_professional
from carnet.auth.principal import SYSTEM


@dataclass(frozen=True)
class DemoHolder:
    key: str
    nir: str
    birth_name: str
    first_names: str
    birth_date: dt.date
    sex: str
    email: str | None


HOLDERS = [
    DemoHolder(
        "mother",
        make_nir(2, 1988, 3, "75", 114, 231),
        "MARTIN",
        "Camille Anne",
        dt.date(1988, 3, 9),
        "F",
        "camille.martin@demo.carnet.localhost",
    ),
    DemoHolder(
        "father",
        make_nir(1, 1986, 11, "69", 383, 42),
        "MARTIN",
        "Julien Pierre",
        dt.date(1986, 11, 21),
        "M",
        "julien.martin@demo.carnet.localhost",
    ),
    DemoHolder(
        "teen",
        make_nir(2, 2010, 5, "75", 114, 518),
        "MARTIN",
        "Léa",
        dt.date(2010, 5, 14),
        "F",
        None,
    ),
    DemoHolder(
        "newborn",
        make_nir(1, 2026, 10, "75", 114, 902),
        "MARTIN",
        "Hugo",
        dt.date(2026, 10, 2),
        "M",
        None,
    ),
    DemoHolder(
        "elder",
        make_nir(1, 1941, 7, "2A", 4, 12),
        "DURAND",
        "Marcel Joseph",
        dt.date(1941, 7, 30),
        "M",
        "marcel.durand@demo.carnet.localhost",
    ),
]

PROFESSIONALS = [
    ("gp", 1000001001, "10", "Dr Sophie Bernard", "Médecine générale", False),
    ("pediatrician", 1000001002, "10", "Dr Karim Haddad", "Pédiatrie", False),
    ("radiologist", 1000001003, "10", "Dr Anne Lefèvre", "Radiodiagnostic", False),
    ("biologist", 1000001004, "10", "Dr Paul Girard", "Biologie médicale", False),
    ("regulator", 1000001005, "10", "Dr Nadia Roux", "Médecine d'urgence (SAMU)", True),
    ("pharmacist", 1000001006, "21", "Thomas Petit", None, False),
    ("nurse", 1000001007, "60", "Julie Moreau", None, False),
    ("dentist", 1000001008, "40", "Dr Marc Fontaine", None, False),
    ("physiotherapist", 1000001009, "70", "Élodie Garnier", None, False),
    ("midwife", 1000001010, "50", "Claire Chevalier", None, False),
]

OPERATOR = "demo-operator"


def is_empty(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Holder)) or 0) == 0


def load(session: Session) -> dict[str, str]:
    """Create or refresh the demo world (idempotent). Returns how to act as each person."""
    logins: dict[str, str] = {}
    for person in HOLDERS:
        holder = session.scalars(select(Holder).where(Holder.nir == person.nir)).first()
        if holder is None:
            holder = Holder(nir=person.nir, state="active")
            session.add(holder)
        holder.birth_name = person.birth_name
        holder.first_names = person.first_names
        holder.birth_date = person.birth_date
        holder.sex = person.sex
        holder.email = person.email
        holder.birth_place_insee = ""
        holder.ins_qualified = True
        logins[f"holder {person.first_names} {person.birth_name} ({person.key})"] = (
            f"carnet token --holder {person.nir}"
        )
    for key, body, profession, name, specialty, regulator in PROFESSIONALS:
        rpps = make_rpps(body)
        upsert_professional(
            session,
            ProfessionalIn(
                rpps=rpps,
                profession=profession,
                name=name,
                specialty=specialty,
                email=f"{key}@demo.carnet.localhost",
                regulator=regulator,
            ),
            SYSTEM,
        )
        option = "--regulator" if regulator else "--professional"
        logins[f"{key} {name}"] = f"carnet token {option} {rpps}"
    if session.scalars(select(Operator).where(Operator.name == OPERATOR)).first() is None:
        add_operator(session, OPERATOR, SYSTEM)
    logins[f"operator {OPERATOR}"] = f"carnet token --operator {OPERATOR}"
    session.flush()
    return logins
