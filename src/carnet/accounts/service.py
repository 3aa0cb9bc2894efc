"""Loading holders (the one way: by id or by NIR, rule ID-1) and registering professionals and
operators (holders' spaces arrive with roster provisioning)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts.models import Holder, Operator, Professional
from carnet.accounts.rules import Nir
from carnet.accounts.schemas import ProfessionalIn
from carnet.audit.service import record
from carnet.auth.principal import Principal
from carnet.errors import Conflict, InvalidInput


def holder(session: Session, holder_id: uuid.UUID) -> Holder | None:
    """The holder with this id, or None."""
    return session.get(Holder, holder_id)


def holder_by_nir(session: Session, nir: Nir) -> Holder | None:
    """The holder identified by this NIR (rule ID-1), or None. `nir` comes from
    `rules.parse_nir`/`rules.as_nir`, so the spelling stored is the spelling compared."""
    return session.scalars(select(Holder).where(Holder.nir == nir)).first()


def upsert_professional(
    session: Session, data: ProfessionalIn, actor: Principal
) -> tuple[Professional, bool]:
    """Create the professional, or update name/e-mail/profession of an existing RPPS.

    Returns (row, created).
    """
    row = session.scalars(select(Professional).where(Professional.rpps == data.rpps)).first()
    created = row is None
    if row is None:
        row = Professional(rpps=data.rpps)
        session.add(row)
    row.profession_code = data.profession
    row.name = data.name
    row.email = data.email
    row.specialty = data.specialty
    row.is_regulator = data.regulator
    row.practice = data.practice
    session.flush()
    record(
        session,
        actor,
        "professional.register" if created else "professional.update",
        target_type="Professional",
        target_id=str(row.id),
    )
    return row, created


def add_operator(session: Session, name: str, actor: Principal) -> Operator:
    name = name.strip()
    if not (1 <= len(name) <= 100):
        raise InvalidInput("An operator name has 1 to 100 characters.")
    if session.scalars(select(Operator).where(Operator.name == name)).first() is not None:
        raise Conflict(f"An operator named {name!r} already exists.")
    operator = Operator(name=name)
    session.add(operator)
    session.flush()
    record(session, actor, "operator.register", target_type="Operator", target_id=str(operator.id))
    return operator


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


PROFESSIONAL_COLUMNS = ("rpps", "profession", "name", "email", "specialty", "regulator", "practice")


def read_professionals_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a professionals CSV (UTF-8, BOM tolerated) with their line numbers."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror}.") from None
    with handle:
        try:
            reader = csv.DictReader(handle)
            missing = [
                c for c in ("rpps", "profession", "name") if c not in (reader.fieldnames or [])
            ]
            if missing:
                raise InvalidInput(f"{path} lacks the column(s): {', '.join(missing)}.")
            for row in reader:
                yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}
        except UnicodeDecodeError:
            raise InvalidInput(f"{path} is not UTF-8 text.") from None


def parse_professional(row: dict[str, str]) -> ProfessionalIn:
    """Validate one CSV row; raises InvalidInput naming the field."""
    try:
        return ProfessionalIn(
            rpps=row.get("rpps", ""),
            profession=row.get("profession", ""),
            name=row.get("name", ""),
            email=row.get("email") or None,
            specialty=row.get("specialty") or None,
            regulator=row.get("regulator", "").strip().lower() in ("1", "true", "yes", "oui"),
            practice=row.get("practice") or None,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(
            f"{field_name}: {err['msg'].removeprefix('Value error, ')}", field=field_name
        ) from None
