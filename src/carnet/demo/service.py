"""The demo world: a family, an elderly holder, professionals of every kind, an operator.

Every identifier is valid (NIR keys, RPPS Luhn digits) and every person is fictitious.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder, Operator, Professional, Representation
from carnet.accounts.passwords import hash_password
from carnet.accounts.rules import make_nir, make_rpps, parse_nir
from carnet.accounts.schemas import ProfessionalIn
from carnet.accounts.service import add_operator, holder_by_nir, upsert_professional
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.demo.documents import deposit_demo_documents
from carnet.demo.services import add_demo_services
from carnet.vault.service import Vault


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


DEMO_PASSWORD = "carnet-demo-2026"  # noqa: S105 - fictitious accounts of the demo world
# Adults get credentials; the children's spaces are run by their parents (REP-1).
USERNAMES = {"mother": "camille", "father": "julien", "elder": "marcel"}
FAMILY = {"teen": ("mother", "father"), "newborn": ("mother", "father")}


def load(
    session: Session, vault: Vault | None = None, settings: Settings | None = None
) -> dict[str, str]:
    """Create or refresh the demo world (idempotent). Returns how to act as each person."""
    logins: dict[str, str] = {}
    holders: dict[str, Holder] = {}
    professionals: dict[str, Professional] = {}
    for person in HOLDERS:
        holder = holder_by_nir(session, parse_nir(person.nir))
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
        session.flush()
        holders[person.key] = holder
        username = USERNAMES.get(person.key)
        if username and holder.password_hash is None:
            holder.username = username
            holder.password_hash = hash_password(DEMO_PASSWORD)
            holder.activated_at = clock.now()
        how = f"carnet token --holder {person.nir}"
        if username:
            how = f"login {username} / {DEMO_PASSWORD} (code by e-mail in var/outbox) or {how}"
        elif person.key in FAMILY:
            how = "through a parent's account (profile switch)"
        logins[f"holder {person.first_names} {person.birth_name} ({person.key})"] = how
    for key, body, profession, name, specialty, regulator in PROFESSIONALS:
        rpps = make_rpps(body)
        professionals[key], _created = upsert_professional(
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
        if professionals[key].password_hash is None:
            professionals[key].password_hash = hash_password(DEMO_PASSWORD)
        option = "--regulator" if regulator else "--professional"
        logins[f"{key} {name}"] = f"carnet token {option} {rpps}"
        logins[f"{key} {name}, portal"] = f"/pro/login {rpps} / {DEMO_PASSWORD}"
    if session.scalars(select(Operator).where(Operator.name == OPERATOR)).first() is None:
        add_operator(session, OPERATOR, SYSTEM)
    logins[f"operator {OPERATOR}"] = f"carnet token --operator {OPERATOR}"
    _family(session, holders)
    _care_team(session, holders, professionals)
    session.flush()
    if vault is not None and settings is not None:
        deposit_demo_documents(session, vault, settings, holders, professionals, clock.today())
        add_demo_services(session, vault, settings, holders, professionals)
    return logins


def _family(session: Session, holders: dict[str, Holder]) -> None:
    """Both parents represent the two children (REP-1); the mother is the managing one."""
    for child, (managing, second) in FAMILY.items():
        for role, parent in (("managing", managing), ("second", second)):
            rep = holders[parent]
            exists = session.scalars(
                select(Representation).where(
                    Representation.minor_id == holders[child].id,
                    Representation.representative_nir == rep.nir,
                )
            ).first()
            if exists is None:
                session.add(
                    Representation(
                        minor_id=holders[child].id,
                        representative_id=rep.id,
                        representative_nir=rep.nir,
                        role=role,
                        status="accepted",
                    )
                )


def _care_team(
    session: Session, holders: dict[str, Holder], professionals: dict[str, Professional]
) -> None:
    """The GP treats the whole family and is their médecin traitant (ACC-1, ACC-4); a few others
    are declared where they cared for someone."""
    pairs = [(who, "gp", True) for who in holders] + [
        ("mother", "biologist", False),
        ("mother", "radiologist", False),
        ("father", "dentist", False),
        ("newborn", "pediatrician", False),
        ("newborn", "midwife", False),
        ("elder", "pharmacist", False),
        ("elder", "nurse", False),
    ]
    for who, by, gp in pairs:
        exists = session.scalars(
            select(CareRelationship).where(
                CareRelationship.holder_id == holders[who].id,
                CareRelationship.professional_id == professionals[by].id,
            )
        ).first()
        if exists is None:
            session.add(
                CareRelationship(
                    holder_id=holders[who].id,
                    professional_id=professionals[by].id,
                    status="declared",
                    is_gp=gp,
                    declared_at=clock.now(),
                )
            )
