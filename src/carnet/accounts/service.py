"""Loading holders (the one way: by id or by NIR, rule ID-1) and registering professionals and
operators (holders' spaces arrive with roster provisioning)."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import identity_key

from carnet import clock
from carnet.accounts.models import (
    Holder,
    NotificationPreference,
    Operator,
    OppositionProof,
    Professional,
)
from carnet.accounts.rules import Nir, as_nir
from carnet.accounts.schemas import ProfessionalIn
from carnet.audit.service import record
from carnet.auth.principal import Principal
from carnet.db import KeyColumn, Preload, keep_preloaded, unit_keep
from carnet.db import preload as preload_on
from carnet.errors import Conflict, InvalidInput


class _HolderPart:
    """The space's holder as a share of another domain's query (`db.Preload`): the row found goes
    to the session's identity map, where `holder()` finds it without a statement."""

    width = 1

    def join(self, statement: Select[Any], holder_id: KeyColumn) -> Select[Any]:
        return statement.add_columns(Holder).outerjoin(Holder, Holder.id == holder_id)

    def keep(self, session: Session, holder_id: uuid.UUID, values: Sequence[Any]) -> None:
        _hold(session, values[0])


def _hold(session: Session, row: Holder | Professional | None) -> None:
    """Keep `row` alive for the unit of work: the identity map holds rows only while something
    else does, and the next `session.get` must find it there."""
    if row is not None:
        unit_keep(session, ("accounts.held", type(row).__name__, row.id), _HELD_TABLES, row)


HOLDER: Preload = _HolderPart()
_HELD_TABLES = frozenset({"holders", "professionals"})


class _AuthorPart:
    """A document's author when a professional (ID-2), as a share of another domain's query:
    joined on the author's id, into the identity map, where `professionals_by_ids_or_rpps`
    finds them. (The `Preload` protocol names the column a holder id; here it is the author's.)"""

    width = 1
    # Built once: an alias made per request costs its column adaptation on every statement.
    _author = aliased(Professional, name="author")

    def join(self, statement: Select[Any], author_id: KeyColumn) -> Select[Any]:
        author = self._author
        return statement.add_columns(author).outerjoin(author, author.id == author_id)

    def keep(self, session: Session, holder_id: uuid.UUID, values: Sequence[Any]) -> None:
        _hold(session, values[0])


AUTHOR: Preload = _AuthorPart()


def holder(
    session: Session, holder_id: uuid.UUID, *, preload: Sequence[Preload] = ()
) -> Holder | None:
    """The holder with this id, or None; with `preload`, what other domains join on the space
    comes in the same statement (unless the unit of work holds the holder already)."""
    if not preload:
        return session.get(Holder, holder_id)
    held = session.identity_map.get(identity_key(Holder, holder_id))
    if isinstance(held, Holder):
        return held
    return _loaded(session, Holder.id == holder_id, preload)


def holder_by_nir(session: Session, nir: Nir, *, preload: Sequence[Preload] = ()) -> Holder | None:
    """The holder identified by this NIR (rule ID-1), or None. `nir` comes from
    `rules.parse_nir`/`rules.as_nir`, so the spelling stored is the spelling compared. With
    `preload`, what other domains join on the space comes in the same statement."""
    return _loaded(session, Holder.nir == nir, preload)


def find_holder(session: Session, nir: str) -> Holder | None:
    """The holder of this NIR as typed by a person (any spelling `rules.as_nir` accepts), or None."""
    return holder_by_nir(session, valid) if (valid := as_nir(nir)) else None


def _loaded(
    session: Session, condition: ColumnElement[bool], preload: Sequence[Preload]
) -> Holder | None:
    row = session.execute(preload_on(select(Holder).where(condition), Holder.id, preload)).first()
    if row is None:
        return None
    found: Holder = row[0]
    _hold(session, found)
    keep_preloaded(session, row, found.id, preload)
    return found


def holder_by_username(session: Session, username: str) -> Holder | None:
    """The holder who signs in with this username (compared as given), or None."""
    return session.scalars(select(Holder).where(Holder.username == username)).first()


def holders_by_nirs(session: Session, nirs: Iterable[str]) -> dict[str, tuple[uuid.UUID, str]]:
    """Id and state of the holders with these NIRs, by NIR, in one query (ID-1: the NIR as
    stored); only the columns, for feeds that match many lines at a time."""
    wanted = list(nirs)
    if not wanted:
        return {}
    return {
        row.nir: (row.id, row.state)
        for row in session.execute(
            select(Holder.id, Holder.nir, Holder.state).where(Holder.nir.in_(wanted))
        )
    }


def holders_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Holder]:
    """The holders with these ids, by id, in one query (none when no id is asked)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {h.id: h for h in session.scalars(select(Holder).where(Holder.id.in_(wanted)))}


def holders_born_on(session: Session, birth_date: dt.date) -> list[Holder]:
    """Every holder born that day (federated sign-in compares their identity traits)."""
    return list(session.scalars(select(Holder).where(Holder.birth_date == birth_date)))


def opposition_proof(session: Session, proof_id: uuid.UUID) -> OppositionProof | None:
    """The opposition row behind a proof's random id (LC-2), or None."""
    return session.get(OppositionProof, proof_id)


def latest_opposition_proof(session: Session, holder_id: uuid.UUID) -> OppositionProof | None:
    """The holder's latest opposition (LC-2), or None."""
    return session.scalars(
        select(OppositionProof)
        .where(OppositionProof.holder_id == holder_id)
        .order_by(OppositionProof.opposed_at.desc())
    ).first()


def professional(session: Session, professional_id: uuid.UUID) -> Professional | None:
    """The professional with this id, or None."""
    return session.get(Professional, professional_id)


def professional_by_rpps(session: Session, rpps: str) -> Professional | None:
    """The professional registered under this RPPS number (compared as given), or None."""
    return session.scalars(select(Professional).where(Professional.rpps == rpps)).first()


def professionals_by_ids(
    session: Session, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Professional]:
    """The professionals with these ids, by id, in one query (none when no id is asked)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {
        p.id: p for p in session.scalars(select(Professional).where(Professional.id.in_(wanted)))
    }


def professionals_by_rpps(session: Session, rpps: Iterable[str]) -> dict[str, Professional]:
    """The professionals registered under these RPPS numbers, by RPPS, in one query."""
    return {
        p.rpps: p for p in session.scalars(select(Professional).where(Professional.rpps.in_(rpps)))
    }


def professionals_by_ids_or_rpps(
    session: Session, ids: set[uuid.UUID], rpps: set[str]
) -> list[Professional]:
    """The professionals with one of these ids or RPPS numbers, in one query (ID-2: authors);
    none when the unit of work holds them all already (`AUTHOR` joined them)."""
    held = [
        found
        for pid in ids
        if isinstance(
            found := session.identity_map.get(identity_key(Professional, pid)), Professional
        )
    ]
    ids = ids - {p.id for p in held}
    rpps = rpps - {p.rpps for p in held}
    if not (ids or rpps):
        return held
    return held + [
        p
        for p in session.scalars(
            select(Professional).where(or_(Professional.id.in_(ids), Professional.rpps.in_(rpps)))
        )
        if p not in held
    ]


# -- e-mail notices a space's people may switch off ---------------------------------------------

# The kinds of notices a space may switch off, each a column of `NotificationPreference`. New
# documents (DOC-7) are `documents`' preference. Nothing else is switchable: login and recovery
# codes, password changes, emergency accesses (ACC-6) and the like always go.
NOTICE_TOPICS = ("messages", "appointments", "accesses")


def notification_preferences(session: Session, holder_id: uuid.UUID) -> NotificationPreference:
    """The space's choices (a fresh, unsaved row with every notice on when none was saved)."""
    found = session.get(NotificationPreference, holder_id)
    if found is not None:
        return found
    return NotificationPreference(
        holder_id=holder_id, messages=True, appointments=True, accesses=True
    )


def wants_notice(session: Session, holder_id: uuid.UUID, topic: str) -> bool:
    """Whether the space's people are e-mailed notices of `topic` (one of `NOTICE_TOPICS`)."""
    if topic not in NOTICE_TOPICS:
        raise ValueError(f"not a switchable notice: {topic}")
    return bool(getattr(notification_preferences(session, holder_id), topic))


def set_notification_preferences(
    session: Session, holder: Holder, principal: Principal, choices: dict[str, bool]
) -> NotificationPreference:
    """Save the space's choices (the topics given; the others stay), audited like DOC-7's."""
    pref = session.get(NotificationPreference, holder.id)
    if pref is None:
        pref = notification_preferences(session, holder.id)
        session.add(pref)
    for topic, wanted in choices.items():
        if topic not in NOTICE_TOPICS:
            raise ValueError(f"not a switchable notice: {topic}")
        setattr(pref, topic, wanted)
    pref.updated_at = clock.now()
    session.flush()
    record(
        session,
        principal,
        "account.notification-preferences",
        holder_id=holder.id,
        target_type="Space",
        target_id=str(holder.id),
        reason=",".join(f"{t}={getattr(pref, t)}" for t in NOTICE_TOPICS),
    )
    return pref


def operator_by_name(session: Session, name: str) -> Operator | None:
    """The operator registered under this name, or None."""
    return session.scalars(select(Operator).where(Operator.name == name)).first()


def professionals_of_profession(
    session: Session,
    profession_code: str,
    *,
    ids: Select[uuid.UUID | None] | Iterable[uuid.UUID],
    rpps: Iterable[str],
) -> list[Professional]:
    """The professionals of this profession with one of these ids (a collection, or another
    domain's subquery: still one statement) or RPPS numbers, by name."""
    return list(
        session.scalars(
            select(Professional)
            .where(
                Professional.profession_code == profession_code,
                or_(Professional.id.in_(ids), Professional.rpps.in_(list(rpps))),
            )
            .order_by(Professional.name)
        )
    )


def professional_emails(
    session: Session, ids: Select[uuid.UUID] | Iterable[uuid.UUID], *, but: uuid.UUID
) -> list[str | None]:
    """The addresses of these professionals (a collection, or another domain's subquery: one
    statement), but `but`'s; unchecked, as registered."""
    return list(
        session.scalars(
            select(Professional.email).where(Professional.id.in_(ids), Professional.id != but)
        )
    )


def upsert_professional(
    session: Session, data: ProfessionalIn, actor: Principal
) -> tuple[Professional, bool]:
    """Create the professional, or update name/e-mail/profession of an existing RPPS.

    Returns (row, created).
    """
    row = professional_by_rpps(session, data.rpps)
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
