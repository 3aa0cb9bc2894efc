"""Roster provisioning (`carnet provision`): rules LC-1, LC-6, LC-7, LC-8, REP-1, ID-1, ACC-8.

Small files only; the million-row run is `make bench` (section `roster`).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import lifecycle, notices, rules
from carnet.accounts import purge as purge_service
from carnet.accounts.models import (
    Holder,
    PostalLetter,
    ProvisionalCode,
    Representation,
    Tombstone,
)
from carnet.accounts.roster import source as roster_source
from carnet.accounts.roster.ids import ordered_ids
from carnet.accounts.roster.notices import new_codes
from carnet.accounts.roster.provision import provision
from carnet.accounts.roster.report import ProvisionReport
from carnet.accounts.roster.rows import COLUMNS, RosterRow, validate_row
from carnet.audit.models import AuditEntry
from carnet.audit.signing import load_signer
from carnet.audit.verify import verify
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Base, Database
from carnet.feeds import Reject, rejects_path
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.conftest import ON_POSTGRES

NOTICE = dt.date(2026, 3, 2)
CODE_RE = re.compile(r"Code provisoire : ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    """Every test runs on the notice day, so that dates in the rows stay in the past."""
    with clock.frozen_at(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)):
        yield


def person(**overrides: str) -> dict[str, str]:
    """A valid adult roster row with a unique NIR, an e-mail and an address."""
    n = next(_numbers)
    year, month = 1960 + n % 40, 1 + n % 12
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        nir=rules.make_nir(1 + n % 2, year, month, "75", 100 + n // 900 % 800, 1 + n % 900),
        birth_name=f"NOMTEST{n}",
        first_names=f"Prenomtest{n}",
        birth_date=f"{year}-{month:02d}-15",
        sex="M" if n % 2 else "F",
        birth_place_insee="75056",
        email=f"person{n}@example.org",
        phone="01 23 45 67 89",
        postal_address=f"{n} rue de la Paix, 75002 Paris",
    )
    row.update(overrides)
    return row


def minor(representative: dict[str, str], **overrides: str) -> dict[str, str]:
    """A child born in 2016 whose declaring parent is `representative` (LC-7)."""
    n = next(_numbers)
    values = {
        "nir": rules.make_nir(1 + n % 2, 2016, 1 + n % 12, "92", 100 + n // 900 % 800, 1 + n % 900),
        "birth_date": f"2016-{1 + n % 12:02d}-10",
        "email": "",
        "postal_address": "",
        "representative_nir": representative["nir"],
    }
    values.update(overrides)
    return person(**values)


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(
    database: Database, vault: Vault, settings: Settings, path: Path, **kwargs: Any
) -> ProvisionReport:
    kwargs.setdefault("notice_date", NOTICE)
    return provision(database, vault, settings, path, **kwargs)


def read_rejects(path: Path) -> list[dict[str, str]]:
    with rejects_path(path).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def count(session: Session, model: type[Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def holder(session: Session, nir: str) -> Holder:
    found = session.scalars(select(Holder).where(Holder.nir == nir)).one()
    return found


def code_of(session: Session, vault: Vault, holder_id: Any) -> str:
    """The clear code of a holder's notice: from the outbox e-mail, or from the sealed letter."""
    body = session.scalars(
        select(OutboxMessage.body_text).where(OutboxMessage.holder_id == holder_id)
    ).first()
    if body is None:
        letter = session.scalars(
            select(PostalLetter).where(PostalLetter.holder_id == holder_id)
        ).one()
        assert letter.sealed is not None
        body = json.loads(
            vault.open_system(
                session, notices.LETTER_KEY, letter.sealed, notices.letter_aad(letter.id)
            )
        )["body"]
    match = CODE_RE.search(body)
    assert match, body
    return match.group(1).replace("-", "")


def dump_database(database: Database) -> str:
    """Every row of every table as text (both engines), for "this never appears" checks."""
    parts: list[str] = []
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


# -- LC-1: new people ---------------------------------------------------------------------------


def test_lc1_new_people_notified_with_deadline_and_one_hashed_code(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-1: each new person gets a `notified` space, deadline = notice date + 6 weeks, and one
    single-use code stored only as a keyed hash."""
    rows = [person(), person(), person(email="")]
    report = run(database, vault, settings, write_csv(tmp_path / "roster.csv", rows))
    assert (report.created, report.updated, report.unchanged, report.rejected) == (3, 0, 0, 0)
    for row in rows:
        h = holder(session, row["nir"])
        assert h.state == rules.NOTIFIED
        assert h.notified_on == NOTICE
        assert h.opposition_deadline == NOTICE + dt.timedelta(weeks=6) == dt.date(2026, 4, 13)
        assert h.ins_qualified  # ID-3: the insurer's register qualifies the identity
        assert h.birth_name == row["birth_name"] and h.birth_date.isoformat() == row["birth_date"]
        codes = session.scalars(
            select(ProvisionalCode).where(ProvisionalCode.holder_id == h.id)
        ).all()
        assert len(codes) == 1
        clear = code_of(session, vault, h.id)
        assert len(clear) == rules.CODE_LENGTH and set(clear) <= set(rules.CODE_ALPHABET)
        assert codes[0].code_hash == vault.keyed_hash(
            session, lifecycle.CODE_KEY, rules.code_hash_input(h.nir, clear)
        )
        assert codes[0].expires_at - codes[0].issued_at == dt.timedelta(days=settings.code_ttl_days)
        # LC-4: the code works with the lifecycle's own check.
        assert (
            lifecycle.check_code(session, vault, settings, h.nir, clear, client="testclient").error
            is None
        )
    # The clear code of the person without e-mail is nowhere in the database (sealed letter).
    letter_code = code_of(session, vault, holder(session, rows[2]["nir"]).id)
    session.rollback()  # release SQLite's write lock before reading through other connections
    dump = dump_database(database)
    assert letter_code not in dump and rules.format_code(letter_code) not in dump
    if not ON_POSTGRES:
        raw = Path(settings.data_dir / "carnet.db").read_bytes()
        wal = settings.data_dir / "carnet.db-wal"
        raw += wal.read_bytes() if wal.exists() else b""
        assert letter_code.encode() not in raw
    # …and no code is stored in clear in the codes table either.
    stored = " ".join(session.scalars(select(ProvisionalCode.code_hash)).all())
    for row in rows[:2]:
        assert code_of(session, vault, holder(session, row["nir"]).id) not in stored


def test_lc1_email_notice_in_outbox_letter_when_no_email(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-1: the notice is e-mailed when an address is known, otherwise a postal letter is queued
    (its content sealed until printing)."""
    with_mail, without = person(), person(email="")
    report = run(database, vault, settings, write_csv(tmp_path / "r.csv", [with_mail, without]))
    assert (report.emails, report.letters) == (1, 1)
    a, b = holder(session, with_mail["nir"]), holder(session, without["nir"])
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.holder_id == a.id)).one()
    assert mail.recipient == with_mail["email"] and mail.kind == "account.notice"
    assert mail.status == "pending"
    assert f"{with_mail['first_names']} {with_mail['birth_name']}" in mail.body_text
    assert "13/04/2026" in mail.body_text  # the opposition deadline (LC-1, LC-2)
    assert (
        session.scalars(select(PostalLetter).where(PostalLetter.holder_id == a.id)).first() is None
    )
    letter = session.scalars(select(PostalLetter).where(PostalLetter.holder_id == b.id)).one()
    assert letter.rendered_at is None and letter.sealed is not None
    content = json.loads(
        vault.open_system(session, notices.LETTER_KEY, letter.sealed, notices.letter_aad(letter.id))
    )
    assert content["name"] == f"{without['first_names']} {without['birth_name']}"
    assert content["address"] == without["postal_address"]
    # One source for the text: the same as `notices.notice_text`.
    code = code_of(session, vault, b.id)
    assert content["body"] == notices.notice_text(
        b, code, "account.notice", b.opposition_deadline, settings.base_url
    )
    assert (
        session.scalars(select(OutboxMessage).where(OutboxMessage.holder_id == b.id)).first()
        is None
    )


def test_acc8_each_new_space_audited_and_chain_verifies(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """ACC-8: one `account.provision` entry per new space; the bulk-written chains verify."""
    rows = [person(), person(email=""), person(deceased_on="2025-12-01")]
    run(database, vault, settings, write_csv(tmp_path / "r.csv", rows), batch_size=2)
    for row in rows:
        h = holder(session, row["nir"])
        entries = session.scalars(select(AuditEntry).where(AuditEntry.holder_id == h.id)).all()
        assert [e.action for e in entries] == ["account.provision"]
        assert entries[0].actor_kind == "system" and entries[0].target_id == str(h.id)
    report = verify(session, load_signer(settings.effective_audit_signing_key_file))
    assert report.intact, report.problems
    assert report.entries == 3


# -- minors and representatives (LC-7, REP-1) -----------------------------------------------------


def test_lc7_rep1_minor_notice_goes_to_representative(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-7: a minor's notice (with the minor's code) goes to the managing representative;
    REP-1: accepted `managing` and `second` representations link the spaces."""
    mother, father = person(), person(email="")
    child = minor(mother, second_representative_nir=father["nir"])
    report = run(database, vault, settings, write_csv(tmp_path / "r.csv", [mother, father, child]))
    assert report.created == 3 and report.rejected == 0
    kid = holder(session, child["nir"])
    assert kid.state == rules.NOTIFIED
    links = {
        link.role: link
        for link in session.scalars(select(Representation).where(Representation.minor_id == kid.id))
    }
    assert set(links) == {"managing", "second"}
    assert links["managing"].representative_id == holder(session, mother["nir"]).id
    assert links["second"].representative_id == holder(session, father["nir"]).id
    assert all(link.status == "accepted" for link in links.values())
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.holder_id == kid.id)).one()
    assert mail.recipient == mother["email"]
    assert f"{child['first_names']} {child['birth_name']}" in mail.body_text
    code = code_of(session, vault, kid.id)
    assert (
        lifecycle.check_code(session, vault, settings, kid.nir, code, client="testclient").error
        is None
    )


def test_lc7_minor_letter_to_representative_without_email(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-7: when the representative has no e-mail the letter is addressed to them, at their
    postal address."""
    parent = person(email="", postal_address="3 place du Marché\n69001 Lyon")
    child = minor(parent)
    run(database, vault, settings, write_csv(tmp_path / "r.csv", [parent, child]))
    kid = holder(session, child["nir"])
    letter = session.scalars(select(PostalLetter).where(PostalLetter.holder_id == kid.id)).one()
    assert letter.sealed is not None
    content = json.loads(
        vault.open_system(session, notices.LETTER_KEY, letter.sealed, notices.letter_aad(letter.id))
    )
    assert content["name"] == f"{parent['first_names']} {parent['birth_name']}"
    assert content["address"] == "3 place du Marché\n69001 Lyon"
    assert child["first_names"] in content["body"]


def test_rep1_representative_later_in_file(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """REP-1, LC-7: the declaring parent may appear after the child, even several batches later:
    the child is set aside and created at the end."""
    parent = person()
    child = minor(parent)
    rows = [child, person(), person(), parent]
    report = run(database, vault, settings, write_csv(tmp_path / "r.csv", rows), batch_size=1)
    assert report.created == 4 and report.rejected == 0 and report.deferred == 1
    kid = holder(session, child["nir"])
    link = session.scalars(select(Representation).where(Representation.minor_id == kid.id)).one()
    assert link.representative_id == holder(session, parent["nir"]).id and link.role == "managing"
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.holder_id == kid.id)).one()
    assert mail.recipient == parent["email"]


def test_rep1_representative_already_known_from_an_earlier_roster(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """REP-1: a representative provisioned by an earlier roster is found in the database."""
    parent = person()
    run(database, vault, settings, write_csv(tmp_path / "a.csv", [parent]))
    child = minor(parent)
    report = run(database, vault, settings, write_csv(tmp_path / "b.csv", [child]))
    assert report.created == 1 and report.rejected == 0
    kid = holder(session, child["nir"])
    link = session.scalars(select(Representation).where(Representation.minor_id == kid.id)).one()
    assert link.representative_id == holder(session, parent["nir"]).id


def test_rep1_representative_not_in_roster_rejected(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """REP-1: a minor whose representative is neither in the file nor known is rejected with a
    reason; the other rows go in."""
    ghost = person()  # never written to the file
    child, other = minor(ghost), person()
    path = write_csv(tmp_path / "r.csv", [child, other])
    report = run(database, vault, settings, path)
    assert report.created == 1 and report.rejected == 1
    assert read_rejects(path) == [
        {
            "line": "2",
            "field": "representative_nir",
            "reason": "the representative is not in the roster (nor in this file, nor already known)",
        }
    ]
    assert session.scalars(select(Holder).where(Holder.nir == child["nir"])).first() is None


def test_rep1_representative_rejected_row_means_minor_rejected(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """REP-1: a representative whose own row is invalid is not in the roster for their child."""
    parent = person(sex="X")
    child = minor(parent)
    path = write_csv(tmp_path / "r.csv", [parent, child])
    report = run(database, vault, settings, path)
    assert report.created == 0 and report.rejected == 2
    assert [(r["line"], r["field"]) for r in read_rejects(path)] == [
        ("2", "sex"),
        ("3", "representative_nir"),
    ]


def test_rep1_deceased_representative_rejected(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """REP-1, LC-7: a notice cannot go to a representative recorded as deceased."""
    parent = person(deceased_on="2025-01-01")
    child = minor(parent)
    path = write_csv(tmp_path / "r.csv", [parent, child])
    report = run(database, vault, settings, path)
    assert (report.created, report.rejected) == (1, 1)
    assert read_rejects(path) == [
        {
            "line": "3",
            "field": "representative_nir",
            "reason": "the representative is recorded as deceased",
        }
    ]


def test_lc7_minor_without_any_contact_rejected(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-1, LC-7: when neither the representative nor the child has an e-mail or an address, the
    notice cannot be sent: the child's row is rejected (the parent's, without contact, too)."""
    parent = person(email="", postal_address="")
    child = minor(parent)
    path = write_csv(tmp_path / "r.csv", [parent, child])
    report = run(database, vault, settings, path)
    assert report.created == 0
    assert [(r["line"], r["field"]) for r in read_rejects(path)] == [
        ("2", "postal_address"),
        ("3", "representative_nir"),
    ]
    # A child with an address of their own gets the letter there, addressed to the parent.
    parent2 = person(email="", postal_address="")
    run(
        database,
        vault,
        settings,
        write_csv(tmp_path / "p.csv", [dict(parent2, postal_address="x")]),
    )
    child2 = minor(parent2, postal_address="5 rue Neuve, 33000 Bordeaux")
    session.rollback()
    path = write_csv(tmp_path / "c.csv", [child2])
    assert run(database, vault, settings, path).created == 1


def test_rep5_adult_with_guardian_and_no_contact_notice_to_guardian(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """REP-5: a protected adult listed with a representative and no contact of their own: the
    notice goes to the guardian."""
    guardian = person()
    ward = person(email="", postal_address="", representative_nir=guardian["nir"])
    report = run(database, vault, settings, write_csv(tmp_path / "r.csv", [guardian, ward]))
    assert report.created == 2
    h = holder(session, ward["nir"])
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.holder_id == h.id)).one()
    assert mail.recipient == guardian["email"]


def test_lc8_erased_representative_means_minor_rejected(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-8, REP-1: a representative whose space was erased is not recreated, so their child's row
    (which needs them) is rejected rather than linked to nobody."""
    parent = person()
    run(database, vault, settings, write_csv(tmp_path / "a.csv", [parent]))
    with database.transaction() as s:
        h = holder(s, parent["nir"])
        lifecycle.transition(s, h, "open", SYSTEM)
        lifecycle.close(s, settings, h, SYSTEM, purge=True)
    with database.transaction() as s:
        purge_service.purge_due(s, vault, settings, lifecycle.today(settings))
    path = write_csv(tmp_path / "b.csv", [parent, minor(parent)])
    report = run(database, vault, settings, path)
    assert (report.created, report.skipped_erased, report.rejected) == (0, 1, 1)
    assert read_rejects(path)[0]["field"] == "representative_nir"


def test_rep1_representative_added_by_a_later_roster(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """REP-1: a second representative named by a later roster is linked to the existing minor
    (audited as a roster update); the first link stays."""
    mother, father = person(), person()
    child = minor(mother)
    run(database, vault, settings, write_csv(tmp_path / "a.csv", [mother, father, child]))
    later = dict(child, second_representative_nir=father["nir"])
    report = run(database, vault, settings, write_csv(tmp_path / "b.csv", [later]))
    assert report.updated == 1
    kid = holder(session, child["nir"])
    roles = {
        link.role: link.representative_id
        for link in session.scalars(select(Representation).where(Representation.minor_id == kid.id))
    }
    assert roles == {
        "managing": holder(session, mother["nir"]).id,
        "second": holder(session, father["nir"]).id,
    }
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.holder_id == kid.id).order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None and entry.action == "account.roster-update"
    assert entry.reason == "second_representative_nir"


# -- idempotency and updates ----------------------------------------------------------------------


def test_rerun_same_roster_changes_nothing(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """Running the same roster again: everyone unchanged, no new code, notice or audit entry."""
    parent = person(email="")
    rows = [person(), parent, minor(parent), person(deceased_on="2024-01-01")]
    path = write_csv(tmp_path / "r.csv", rows)
    first = run(database, vault, settings, path)
    assert first.created == 4

    def counts() -> tuple[int, ...]:
        with database.transaction() as s:
            return tuple(
                count(s, m)
                for m in (
                    Holder,
                    ProvisionalCode,
                    OutboxMessage,
                    PostalLetter,
                    Representation,
                    AuditEntry,
                )
            )

    before = counts()
    again = run(database, vault, settings, path)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 4, 0)
    assert (again.emails, again.letters) == (0, 0)
    assert counts() == before


def test_changed_contact_updated_and_audited_absent_not_deleted(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """Changed contact data is updated with one `account.contact-update` audit entry (ACC-8);
    people absent from the new roster are not deleted."""
    a, b, c = person(), person(), person()
    run(database, vault, settings, write_csv(tmp_path / "one.csv", [a, b, c]))
    moved = dict(a, email="new.address@example.org", phone="+33 6 12 34 56 78")
    report = run(database, vault, settings, write_csv(tmp_path / "two.csv", [moved, b]))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    session.expire_all()
    h = holder(session, a["nir"])
    assert h.email == "new.address@example.org" and h.phone == "+33 6 12 34 56 78"
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.holder_id == h.id).order_by(AuditEntry.seq)
    ).all()
    assert actions == ["account.provision", "account.contact-update"]
    assert count(session, Holder) == 3  # c is still there
    assert holder(session, c["nir"]).state == rules.NOTIFIED
    # No new code or notice for an update.
    assert count(session, ProvisionalCode) == 3
    assert verify(session, load_signer(settings.effective_audit_signing_key_file)).intact
    # And the updated roster is now the reference: running it again changes nothing.
    session.rollback()
    assert run(database, vault, settings, tmp_path / "two.csv").unchanged == 2


def test_changed_traits_audited_as_roster_update(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """ID-1: the insurer's register is the reference for the traits; a change is applied and
    audited as `account.roster-update`."""
    a = person()
    run(database, vault, settings, write_csv(tmp_path / "one.csv", [a]))
    renamed = dict(a, birth_name="NOUVEAUNOM")
    assert run(database, vault, settings, write_csv(tmp_path / "two.csv", [renamed])).updated == 1
    session.expire_all()
    h = holder(session, a["nir"])
    assert h.birth_name == "NOUVEAUNOM"
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.holder_id == h.id).order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None
    assert entry.action == "account.roster-update" and entry.reason == "birth_name"


def test_lc6_deceased_in_a_later_roster_closes_the_space(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-6: a death reported by a later roster closes the existing space (audited transition)."""
    a = person()
    run(database, vault, settings, write_csv(tmp_path / "one.csv", [a]))
    dead = dict(a, deceased_on="2025-11-01")
    assert run(database, vault, settings, write_csv(tmp_path / "two.csv", [dead])).updated == 1
    session.expire_all()
    h = holder(session, a["nir"])
    assert h.state == rules.CLOSED and h.close_reason == "deceased"
    assert h.deceased_on == dt.date(2025, 11, 1)
    code = session.scalars(select(ProvisionalCode).where(ProvisionalCode.holder_id == h.id)).one()
    assert code.revoked_at is not None
    assert (
        "account.decease"
        in session.scalars(select(AuditEntry.action).where(AuditEntry.holder_id == h.id)).all()
    )


# -- deceased and erased people (LC-6, LC-8) --------------------------------------------------------


def test_lc6_deceased_recorded_closed_without_notice_or_code(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-6: a person the roster says is deceased is recorded closed; no code, no notice."""
    dead = person(deceased_on="2025-06-30", email="")
    report = run(database, vault, settings, write_csv(tmp_path / "r.csv", [dead]))
    assert report.created == 1 and report.closed_deceased == 1
    assert (report.emails, report.letters) == (0, 0)
    h = holder(session, dead["nir"])
    assert h.state == rules.CLOSED and h.close_reason == "deceased"
    assert h.deceased_on == dt.date(2025, 6, 30) and h.closed_on is not None
    assert h.purge_due_on == rules.archive_purge_day(h.closed_on, settings.archive_years)
    assert h.opposition_deadline is None
    assert count(session, ProvisionalCode) == 0
    assert count(session, OutboxMessage) == 0 and count(session, PostalLetter) == 0


def test_lc8_tombstoned_person_not_recreated(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-8: once purged, only a tombstone remains, and the next roster does not recreate the
    space."""
    gone, stays = person(), person()
    path = write_csv(tmp_path / "r.csv", [gone, stays])
    run(database, vault, settings, path)
    with database.transaction() as s:
        h = holder(s, gone["nir"])
        lifecycle.transition(s, h, "open", SYSTEM)
        lifecycle.close(s, settings, h, SYSTEM, purge=True)
    with database.transaction() as s:
        assert purge_service.purge_due(s, vault, settings, lifecycle.today(settings)) == 1
    with database.transaction() as s:
        assert count(s, Tombstone) == 1
        assert purge_service.is_tombstoned(s, vault, gone["nir"])
    report = run(database, vault, settings, path)
    assert (report.created, report.unchanged, report.skipped_erased) == (0, 1, 1)
    assert session.scalars(select(Holder).where(Holder.nir == gone["nir"])).first() is None
    assert "skipped (space erased, not recreated)" in report.summary()


# -- bad input (ID-1): each problem is a rejects line, the other rows go in -------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"nir": "180017500100100"}, "nir", "the NIR key does not match"),
        ({"nir": "1800175001001"}, "nir", "15 in all"),
        ({"birth_date": "2026-02-30"}, "birth_date", "impossible date"),
        ({"birth_date": "15/01/1980"}, "birth_date", "YYYY-MM-DD"),
        ({"birth_date": "2099-01-01"}, "birth_date", "in the future"),
        ({"sex": "X"}, "sex", "unknown sex code"),
        ({"sex": ""}, "sex", "missing"),
        ({"birth_name": ""}, "birth_name", "missing"),
        ({"birth_place_insee": "7505"}, "birth_place_insee", "5 characters"),
        ({"email": "not-an-address"}, "email", "e-mail"),
        ({"deceased_on": "2025-13-01"}, "deceased_on", "impossible date"),
        ({"representative_nir": "180017500100100"}, "representative_nir", "key does not match"),
        ({"email": "", "postal_address": ""}, "postal_address", "the notice cannot be sent"),
    ],
)
def test_id1_bad_row_rejected_with_line_field_reason(
    tmp_path: Path,
    database: Database,
    vault: Vault,
    settings: Settings,
    session: Session,
    overrides: dict[str, str],
    field: str,
    reason: str,
) -> None:
    """ID-1 and the issue's bad-input list: the bad row is a rejects line (line number, field,
    reason); the rows around it go in."""
    path = write_csv(tmp_path / "r.csv", [person(), person(**overrides), person()])
    report = run(database, vault, settings, path)
    assert (report.created, report.rejected) == (2, 1)
    rejects = read_rejects(path)
    assert [(r["line"], r["field"]) for r in rejects] == [("3", field)]
    assert reason in rejects[0]["reason"]
    assert count(session, Holder) == 2


def test_corsica_nir_and_birth_place_accepted(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """ID-1: Corsica's 2A/2B in the NIR and in the INSEE code."""
    corsican = person(nir=rules.make_nir(2, 1975, 6, "2B", 33, 12), birth_place_insee="2B033")
    report = run(database, vault, settings, write_csv(tmp_path / "r.csv", [corsican]))
    assert report.created == 1
    assert holder(session, corsican["nir"]).birth_place_insee == "2B033"


def test_duplicate_nir_second_occurrence_rejected_within_and_across_batches(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """A NIR twice in one file: the later line is rejected, whether it falls in the same batch
    or a later one; the first one is applied."""
    a, b = person(), person()
    rows = [a, dict(a, birth_name="AUTRE"), b, person(), dict(b, email="x@example.org")]
    for batch_size, name in ((10, "same.csv"), (1, "across.csv")):
        path = write_csv(tmp_path / name, rows)
        report = run(database, vault, settings, path, batch_size=batch_size)
        assert report.rejected == 2, batch_size
        assert read_rejects(path) == [
            {"line": "3", "field": "nir", "reason": "duplicate NIR: already on line 2"},
            {"line": "6", "field": "nir", "reason": "duplicate NIR: already on line 4"},
        ]
    session.expire_all()
    assert holder(session, a["nir"]).birth_name == a["birth_name"]
    assert holder(session, b["nir"]).email == b["email"]
    assert count(session, Holder) == 3


def test_duplicate_of_a_set_aside_minor_rejected(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """A duplicate NIR is rejected even when the first occurrence waits for its representative."""
    parent = person()
    child = minor(parent)
    path = write_csv(tmp_path / "r.csv", [child, child, parent])
    report = run(database, vault, settings, path, batch_size=1)
    assert (report.created, report.rejected) == (2, 1)
    assert read_rejects(path)[0]["line"] == "3"


def test_latin1_file_rows_rejected_not_utf8(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """A Latin-1 file: lines that are not UTF-8 are rejected ("not UTF-8"), ASCII lines go in."""
    plain, accented = person(), person(first_names="Hélène", birth_name="LEFÈVRE")
    path = tmp_path / "latin1.csv"
    buffer = tmp_path / "utf8.csv"
    write_csv(buffer, [plain, accented])
    path.write_bytes(buffer.read_text(encoding="utf-8").encode("latin-1"))
    report = run(database, vault, settings, path)
    assert (report.created, report.rejected, report.not_utf8) == (1, 1, 1)
    assert read_rejects(path) == [{"line": "3", "field": "", "reason": "not UTF-8"}]


def test_bom_prefixed_utf8_accepted(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """A UTF-8 file with a byte-order mark (as spreadsheets write them) is read normally."""
    row = person(first_names="Zoé Œdipe", birth_name="L’HÔTE")
    path = tmp_path / "bom.csv"
    buffer = write_csv(tmp_path / "plain.csv", [row])
    path.write_bytes(b"\xef\xbb\xbf" + buffer.read_bytes())
    report = run(database, vault, settings, path)
    assert (report.created, report.rejected) == (1, 0)
    assert holder(session, row["nir"]).first_names == "Zoé Œdipe"


def test_line_numbers_are_physical_lines_with_multiline_addresses(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """A quoted address over two lines: the rejects give the line where the record starts, as an
    editor shows it."""
    rows = [person(postal_address="1 rue A\n75001 Paris"), person(sex="?"), person(sex="?")]
    path = write_csv(tmp_path / "r.csv", rows)
    run(database, vault, settings, path)
    assert [r["line"] for r in read_rejects(path)] == ["4", "5"]


def test_truncated_last_line_rejected(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """A file cut in the middle of its last line: that line is rejected, the others go in."""
    path = write_csv(tmp_path / "r.csv", [person(), person(), person()])
    data = path.read_bytes().rstrip(b"\r\n")
    path.write_bytes(data[: data.rfind(b",", 0, data.rfind(b",") - 40)])
    report = run(database, vault, settings, path)
    assert (report.created, report.rejected) == (2, 1)
    rejects = read_rejects(path)
    assert rejects[0]["line"] == "4" and "truncated line" in rejects[0]["reason"]
    assert rejects[0]["field"] in COLUMNS


def test_unbalanced_quote_rejected_with_the_span(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """A stray quote swallows the next line into one record: one reject naming the span."""
    path = write_csv(tmp_path / "r.csv", [person(), person(), person()])
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].rstrip("\r\n") + '"\r\n'
    path.write_text("".join(lines), encoding="utf-8")
    report = run(database, vault, settings, path)
    assert report.created == 1 and report.rejected == 1
    reject = read_rejects(path)[0]
    assert reject["line"] == "3" and "spans lines 3-4" in reject["reason"], reject


def test_ndjson_roster_with_invalid_lines(
    tmp_path: Path,
    database: Database,
    vault: Vault,
    settings: Settings,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NDJSON: the same fields, one object per line; invalid JSON (a truncated last line), a line
    that is not an object or a missing required key are rejects."""
    good, other = person(), person()
    lines = [
        json.dumps({k: v or None for k, v in good.items()}),
        "",
        json.dumps([1, 2]),
        json.dumps({k: v for k, v in person().items() if k != "sex"}),
        json.dumps(other, ensure_ascii=False),
        json.dumps(person())[:50],
    ]
    path = tmp_path / "roster.ndjson"
    path.write_text("\n".join(lines), encoding="utf-8")
    report = run(database, vault, settings, path)
    assert (report.created, report.rejected) == (2, 3)
    assert [(r["line"], r["field"]) for r in read_rejects(path)] == [
        ("3", ""),
        ("4", "sex"),
        ("6", ""),
    ]
    assert "not valid JSON" in read_rejects(path)[2]["reason"]
    # An overlong line is skipped without being held in memory.
    monkeypatch.setattr(roster_source, "MAX_LINE_BYTES", 64)
    long_path = tmp_path / "long.jsonl"
    long_path.write_text(
        json.dumps(person()) + "\n" + json.dumps({"nir": "x" * 10}) + "\n", encoding="utf-8"
    )
    report = run(database, vault, settings, long_path)
    long_rejects = read_rejects(long_path)
    assert long_rejects[0] == {"line": "1", "field": "", "reason": "longer than 64 bytes"}
    assert {r["line"] for r in long_rejects[1:]} == {"2"}  # the next line is read normally
    monkeypatch.undo()
    # Sniffed as NDJSON without the extension too.
    sniffed = tmp_path / "roster.txt"
    sniffed.write_text(json.dumps(person()) + "\n", encoding="utf-8")
    assert run(database, vault, settings, sniffed).created == 1


def test_rejects_file_never_contains_nirs_or_names(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """The rejects file holds line numbers, field names and reasons only: no NIR, no name."""
    parent = person()
    rows = [
        person(sex="Q"),
        person(birth_date="2026-02-30"),
        person(nir="180017500100100"),
        person(email="bad"),
        minor(person()),  # representative absent
        dict(parent),
        dict(parent),  # duplicate
        person(representative_nir="180017500100100"),
        person(deceased_on="1900-01-01", birth_date="1950-01-01"),
    ]
    path = write_csv(tmp_path / "r.csv", rows)
    report = run(database, vault, settings, path)
    assert report.rejected == 8
    content = rejects_path(path).read_text(encoding="utf-8")
    for row in rows:
        for key in ("nir", "birth_name", "first_names", "representative_nir", "email"):
            if row[key] and len(row[key]) > 3:
                assert row[key] not in content, key
    assert set(content.splitlines()[0].split(",")) == {"line", "field", "reason"}


def test_stale_rejects_file_removed_when_clean(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """A rejects file from an earlier run of the same file does not outlive a clean run."""
    path = write_csv(tmp_path / "r.csv", [person(), person(sex="?")])
    assert run(database, vault, settings, path).rejects_file == rejects_path(path)
    write_csv(path, [person()])
    assert run(database, vault, settings, path).rejects_file is None
    assert not rejects_path(path).exists()


def test_documented_example_loads(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """The CSV example of docs/formats/roster.md loads as it says (LC-6, LC-7, REP-1)."""
    doc = (Path(__file__).parents[2] / "docs" / "formats" / "roster.md").read_text(encoding="utf-8")
    example = doc.split("```csv\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.csv"
    path.write_text(example, encoding="utf-8")
    report = run(database, vault, settings, path)
    assert (report.created, report.rejected, report.closed_deceased) == (4, 0, 1)
    assert (report.emails, report.letters) == (1, 2)  # Paul and, for Léa, Paul again
    kid = holder(session, "216039212300467")
    letter = session.scalars(select(PostalLetter).where(PostalLetter.holder_id == kid.id)).one()
    assert letter.sealed is not None
    content = json.loads(
        vault.open_system(session, notices.LETTER_KEY, letter.sealed, notices.letter_aad(letter.id))
    )
    assert content["name"] == "Paul Henri MARTIN"
    assert content["address"] == "12 rue de la Paix\n75002 Paris"


# -- the pure parts ---------------------------------------------------------------------------------


def test_id1_validate_row_normalizes() -> None:
    """ID-1: spaces and dots people type in a NIR go, Corsica letters are upper-cased."""
    nir = rules.make_nir(1, 1980, 1, "2a", 4, 5).upper()
    spaced = (
        f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7].lower()} {nir[7:10]}.{nir[10:13]} {nir[13:]}"
    )
    result = validate_row(
        7,
        {
            "nir": spaced, "birth_name": " DUPONT ", "first_names": "Jean", "birth_date": "1980-01-05",
            "sex": "m", "email": "jean@example.org", "postal_address": "1 rue A\r\n75001 Paris",
        },
        dt.date(2026, 1, 1),
    )  # fmt: skip
    assert isinstance(result, RosterRow)
    assert result.nir == nir and result.sex == "M" and result.birth_name == "DUPONT"
    assert result.postal_address == "1 rue A\n75001 Paris"
    assert result.line == 7 and len(result.digest) == 32


def test_validate_row_reports_every_problem() -> None:
    result = validate_row(
        3,
        {"nir": "x", "birth_name": "", "first_names": "A", "birth_date": "2026-02-30", "sex": "Z"},
        dt.date(2026, 1, 1),
    )
    assert isinstance(result, list)
    assert [p.field for p in result] == ["nir", "birth_name", "birth_date", "sex", "postal_address"]
    assert all(isinstance(p, Reject) and p.line == 3 for p in result)


def test_validate_row_representatives() -> None:
    """REP-1: a second representative needs a first one, and differs from them."""
    base = person()
    rep = person()["nir"]
    for overrides, field in (
        ({"second_representative_nir": rep}, "second_representative_nir"),
        (
            {"representative_nir": rep, "second_representative_nir": rep},
            "second_representative_nir",
        ),
        ({"representative_nir": base["nir"]}, "representative_nir"),
    ):
        result = validate_row(2, dict(base, **overrides), dt.date(2026, 1, 1))
        assert isinstance(result, list) and result[0].field == field


def test_lc1_codes_use_the_unambiguous_alphabet() -> None:
    """LC-1: codes are 12 characters of the unambiguous alphabet, all different."""
    codes = new_codes(2000)
    assert len(codes) == 2000 and len(set(codes)) == 2000
    assert all(len(c) == rules.CODE_LENGTH and set(c) <= set(rules.CODE_ALPHABET) for c in codes)
    # Every letter of the alphabet shows up (no modulo bias would starve the last ones).
    assert set("".join(codes)) == set(rules.CODE_ALPHABET)


def test_ordered_ids_are_version_7_strictly_increasing_across_calls() -> None:
    """The ids of what a run creates grow with time (index locality), are valid version 7 UUIDs
    and keep 62 random bits: two calls never give the same id, even past 4,096 ids a call."""
    first, second = ordered_ids(5000), ordered_ids(3)
    ids = first + second
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids
    assert ordered_ids(0) == []


def test_new_spaces_get_ids_in_file_order(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """Spaces created by a run (and their first audit entries) get time-ordered ids, in file
    order across batches: inserts append to every index keyed by the space id."""
    rows = [person() for _ in range(5)]
    run(database, vault, settings, write_csv(tmp_path / "r.csv", rows), batch_size=2)
    ids = [holder(session, r["nir"]).id for r in rows]
    assert all(i.version == 7 for i in ids) and ids == sorted(ids)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.holder_id.in_(ids))).all()
    assert sorted(e.id for e in entries) == [
        e.id for e in sorted(entries, key=lambda e: ids.index(e.holder_id))
    ]


def test_digest_same_for_same_content() -> None:
    row = person()
    a = validate_row(2, row, dt.date(2026, 1, 1))
    b = validate_row(9, dict(row, email=f" {row['email']} "), dt.date(2026, 1, 1))
    c = validate_row(9, dict(row, phone="0600000000"), dt.date(2026, 1, 1))
    assert isinstance(a, RosterRow) and isinstance(b, RosterRow) and isinstance(c, RosterRow)
    assert a.digest == b.digest != c.digest


# -- the command line -----------------------------------------------------------------------------


def test_cli_provision_summary_and_exit_status_0(
    tmp_path: Path, run_cli: Any, database: Database, session: Session
) -> None:
    """`carnet provision FILE` exits 0 when rows were processed, even with rejects, and ends with
    the summary line; the progress bar goes to stderr."""
    path = write_csv(tmp_path / "r.csv", [person(), person(email=""), person(sex="?")])
    status, out, err = run_cli(
        "provision", str(path), "--notice-date", "2026-03-02", "--no-letters"
    )
    assert status == 0, err
    assert "Roster: 2 created, 0 updated, 0 unchanged, 1 rejected." in out
    assert "1 e-mail(s) queued, 1 letter(s) to print" in out
    assert str(rejects_path(path)) in out.replace("\n", "")
    assert "Letters:" not in out
    assert "rows/s" in err
    status, out, _err = run_cli("provision", str(path), "--no-letters")
    assert status == 0
    assert "Roster: 0 created, 0 updated, 2 unchanged, 1 rejected." in out
    assert session.scalar(select(func.count()).select_from(Holder)) == 2


@pytest.mark.parametrize(
    "case", ["missing", "directory", "empty", "missing-column", "not-utf8-header"]
)
def test_cli_unreadable_file_exit_1(tmp_path: Path, run_cli: Any, case: str) -> None:
    """The file itself unusable (missing, a directory, empty, a header without the required
    columns): a clear one-line message and exit status 1."""
    path = tmp_path / "roster.csv"
    expected = ""
    if case == "missing":
        expected = "No such file"
    elif case == "directory":
        path.mkdir()
        expected = "directory"
    elif case == "empty":
        path.write_bytes(b"")
        expected = "empty"
    elif case == "missing-column":
        columns = tuple(c for c in COLUMNS if c not in ("sex", "email"))
        write_csv(path, [person()], columns)
        expected = "lacks the column(s) sex, email"
    else:
        path.write_bytes(",".join(COLUMNS).replace("nir", "n\xefr").encode("latin-1") + b"\n")
        expected = "not UTF-8"
    status, _out, err = run_cli("provision", str(path))
    assert status == 1
    assert "Error:" in err and expected in " ".join(err.split())
    assert "Traceback" not in err


def test_cli_bad_notice_date_or_batch_size(tmp_path: Path, run_cli: Any) -> None:
    path = write_csv(tmp_path / "r.csv", [person()])
    status, _out, err = run_cli("provision", str(path), "--batch-size", "0")
    assert status == 1 and "batch size" in err
    status, _out, err = run_cli("provision", str(path), "--notice-date", "2026-02-30")
    assert status == 1 and "YYYY-MM-DD" in err
    status, _out, err = run_cli("provision", str(path), "--notice-date", "2001-01-01")
    assert status == 1 and "deadline would already be over" in err


def test_scratch_files_cleaned_up(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """The run's scratch index (hashed NIRs, set-aside rows) does not outlive the run."""
    parent = person()
    run(
        database,
        vault,
        settings,
        write_csv(tmp_path / "r.csv", [minor(parent), parent]),
        batch_size=1,
    )
    assert not list(settings.data_dir.glob(".provision-*"))


def test_postgres_and_sqlite_store_the_same_values(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """The raw bulk writer stores values the ORM reads back unchanged (dates, times, ids)."""
    row = person(email="")
    run(database, vault, settings, write_csv(tmp_path / "r.csv", [row]))
    h = holder(session, row["nir"])
    assert h.created_at.tzinfo is not None and h.state_changed_at == h.created_at
    assert h.code_failures == 0 and h.dmp_migration_opposed is False and h.username is None
    letter = session.scalars(select(PostalLetter)).one()
    assert letter.holder_id == h.id and letter.kind == "account.notice"
    stored = session.execute(
        text("SELECT count(*) FROM holders WHERE birth_date = :d"), {"d": h.birth_date}
    ).scalar()
    assert stored == 1
