"""The majority job (rule REP-3, a Carnet decision): on the 18th birthday the representatives lose
access, the young adult gets a provisional code for the *same* space. Guardians stay (REP-5)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from carnet import clock
from carnet.accounts import lifecycle, rules, wishes
from carnet.accounts.family import guardians
from carnet.accounts.family import relations as family
from carnet.accounts.family.jobs import majority
from carnet.accounts.family.majority import majority_cutoff
from carnet.accounts.models import (
    Holder,
    HolderWish,
    PostalLetter,
    ProvisionalCode,
    Representation,
)
from carnet.audit.models import AuditEntry
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Database
from carnet.jobs.service import JobContext, load_jobs, registered_jobs, run_due
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.factories import make_holder

BIRTH = dt.date(2008, 3, 10)
BIRTHDAY = dt.date(2026, 3, 10)


def run_majority(database: Database, settings: Settings, day: dt.date) -> str:
    """Run the job as the jobs runner would on `day` (clock frozen at noon)."""
    noon = clock.start_of_day(day, settings.timezone) + dt.timedelta(hours=12)
    with clock.frozen_at(noon):
        return majority(JobContext(database, settings, day, clock.now()))


@dataclass
class Minor:
    child: Holder
    mother: Holder
    father: Holder


ADDRESS = "12 rue des Écoles\n75005 Paris"


def make_minor(
    database: Database,
    *,
    birth: dt.date = BIRTH,
    email: str | None = None,
    guardian: bool = False,
    address: str | None = ADDRESS,
) -> Minor:
    with database.transaction() as session:
        mother = make_holder(session, email="mother@example.org")
        father = make_holder(session, email="father@example.org")
        child = make_holder(
            session, birth_date=birth, state="open", email=email, postal_address=address
        )
        for parent, role in ((mother, "managing"), (father, "second")):
            session.add(
                Representation(
                    minor_id=child.id,
                    representative_id=parent.id,
                    representative_nir=parent.nir,
                    role=role,
                    status="accepted",
                )
            )
        if guardian:
            tutor = make_holder(session)
            session.flush()
            guardians.add_guardian(session, child, tutor, SYSTEM)
    return Minor(child, mother, father)


def codes(database: Database, holder_id: uuid.UUID) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ProvisionalCode)
                .where(ProvisionalCode.holder_id == holder_id)
            )
            or 0
        )


def statuses(database: Database, child_id: uuid.UUID) -> dict[str, str]:
    with database.transaction() as session:
        rows = session.scalars(select(Representation).where(Representation.minor_id == child_id))
        return {row.role: row.status for row in rows}


def test_rep3_jobs_are_registered() -> None:
    load_jobs()
    names = {registered.name for registered in registered_jobs()}
    assert {"accounts.majority", "accounts.invitations-expire"} <= names


def test_rep3_the_majority_runs_before_its_notices_are_printed_and_sent() -> None:
    # Whatever module was imported first (the letters one is, by `carnet letters` and others).
    import carnet.accounts.letters  # noqa: F401

    load_jobs()
    order = [registered.name for registered in registered_jobs()]
    assert order.index("accounts.majority") < order.index("letters.render")
    assert order.index("accounts.majority") < order.index("outbox.deliver")


def test_rep3_the_majority_letter_is_printed_in_the_same_pass(
    database: Database, settings: Settings
) -> None:
    make_minor(database)
    outcomes = {o.name: o for o in run_due(database, settings, as_of=BIRTHDAY)}
    assert outcomes["accounts.majority"].summary == "1 young adult(s) came of age"
    assert outcomes["letters.render"].summary == "1 letter(s) rendered into 1 file(s)"


def test_rep3_the_majority_notice_says_what_changed(database: Database, settings: Settings) -> None:
    minor = make_minor(database, email="young@example.org", birth=dt.date(2008, 2, 29))
    run_majority(database, settings, dt.date(2026, 3, 4))  # caught up after the birthday
    with database.transaction() as session:
        mail = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "account.majority")
        ).one()
    assert mail.recipient == "young@example.org"
    assert mail.subject == "Vous gérez désormais vous-même votre espace santé Carnet"
    body = mail.body_text
    assert f"{minor.child.first_names} {minor.child.birth_name}, vous avez 18 ans" in body
    assert "depuis le 01/03/2026" in body  # 29 February counts on 1 March (REP-3)
    assert "Vos anciens représentants légaux" in body
    assert "ne voient plus vos documents, votre profil médical" in body
    assert "Un espace santé Carnet est ouvert" not in body  # not the generic opening notice
    assert "/activation" in body


def test_rep3_without_any_address_the_notice_is_undeliverable_and_reported(
    database: Database, settings: Settings, run_cli
) -> None:  # type: ignore[no-untyped-def]
    minor = make_minor(database, address=None)
    outcomes = {o.name: o for o in run_due(database, settings, as_of=BIRTHDAY)}
    assert outcomes["accounts.majority"].summary == (
        "1 young adult(s) came of age; 1 notice(s) undeliverable (no address): "
        "see `carnet letters undeliverable`"
    )
    # Nothing printed: no page without an address.
    assert outcomes["letters.render"].summary.startswith("0 letter(s) rendered into 0 file(s); ")
    with database.transaction() as session:
        [letter] = session.scalars(select(PostalLetter)).all()
        assert letter.sealed is None and letter.undeliverable_at is not None
    status, out, err = run_cli("letters", "undeliverable")
    assert status == 0, err
    assert str(letter.id) in out and minor.child.nir in out and "account.majority" in out
    assert run_cli("letters", "undeliverable", "--handled", str(letter.id))[0] == 0
    assert "no undeliverable notice" in run_cli("letters", "undeliverable")[1]
    status, _out, err = run_cli("letters", "undeliverable", "--handled", "nope")
    assert status == 1 and "--handled" in err


def test_rep3_account_show_lists_parents_as_former_representatives(
    database: Database, settings: Settings, run_cli
) -> None:  # type: ignore[no-untyped-def]
    minor = make_minor(database, guardian=True)
    status, out, _err = run_cli("account", "show", minor.child.nir)
    shown = " ".join(out.split())  # the table's columns, spaces collapsed
    assert f"representative (managing) │ {minor.mother.nir} (accepted)" in shown
    run_majority(database, settings, BIRTHDAY)
    status, out, err = run_cli("account", "show", minor.child.nir)
    assert status == 0, err
    shown = " ".join(out.split())
    assert "│ representative (managing)" not in shown
    assert f"former representative (managing) │ {minor.mother.nir} (until 2026-03-10)" in shown
    assert f"former representative (second) │ {minor.father.nir} (until 2026-03-10)" in shown
    assert "│ representative (guardian) │" in shown  # REP-5: the guardian stays
    status, out, _err = run_cli("account", "show", minor.mother.nir)
    assert "represented formerly" in out and "ended" in out


def test_rep3_through_the_jobs_runner(database: Database, settings: Settings) -> None:
    minor = make_minor(database)
    [outcome] = [
        o for o in run_due(database, settings, as_of=BIRTHDAY) if o.name == "accounts.majority"
    ]
    assert (outcome.status, outcome.summary) == ("ran", "1 young adult(s) came of age")
    [again] = [
        o for o in run_due(database, settings, as_of=BIRTHDAY) if o.name == "accounts.majority"
    ]
    assert again.status == "skipped"
    assert codes(database, minor.child.id) == 1


def test_rep3_on_the_18th_birthday_representatives_lose_access(
    database: Database, settings: Settings, vault: Vault
) -> None:
    minor = make_minor(database, email="young@example.org")
    with database.transaction() as session:
        wishes.add_emergency_contact(session, vault, minor.child, {"name": "Grand-mère"}, SYSTEM)
        eve = BIRTHDAY - dt.timedelta(days=1)
        relation = family.manages(
            session, minor.mother.id, minor.child.id, settings=settings, day=eve
        )
        assert relation == "representative"
    summary = run_majority(database, settings, BIRTHDAY)
    assert summary == "1 young adult(s) came of age"
    assert statuses(database, minor.child.id) == {"managing": "ended", "second": "ended"}
    with database.transaction() as session:
        for parent in (minor.mother, minor.father):
            # Ended, not merely outgrown: even on the eve of the birthday it gives nothing now.
            assert (
                family.manages(session, parent.id, minor.child.id, settings=settings, day=eve)
                is None
            )
            assert family.managed_spaces(session, parent.id, settings=settings) == []
        # The *same* space: same id, same state, its data still there and readable.
        child = session.get(Holder, minor.child.id)
        assert child is not None and child.state == "open" and child.nir == minor.child.nir
        [kept] = wishes.list_wishes(session, vault, child, SYSTEM)
        assert kept.content["name"] == "Grand-mère"
        # The notice went to the young adult, not to a parent.
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "account.majority")
        ).all()
        assert [m.recipient for m in mails] == ["young@example.org"]
        assert mails[0].holder_id == minor.child.id
        audit = session.scalars(
            select(AuditEntry).where(
                AuditEntry.holder_id == minor.child.id, AuditEntry.action == "account.majority"
            )
        ).one()
        assert audit.actor_kind == "system"
    assert codes(database, minor.child.id) == 1
    # The young adult activates the same space with that code (REP-3, LC-4).
    code = re.search(r"Code provisoire : ([A-Z0-9-]+)", mails[0].body_text)
    assert code is not None
    noon = clock.start_of_day(BIRTHDAY, settings.timezone) + dt.timedelta(hours=12)
    with clock.frozen_at(noon), database.transaction() as session:
        check = lifecycle.check_code(
            session, vault, settings, minor.child.nir, code.group(1), client="testclient"
        )
        activated = lifecycle.activate(
            session,
            settings,
            check,
            birth_date=BIRTH,
            username="young.adult",
            password="a long enough passphrase",
            email="young@example.org",
        )
        assert activated.id == minor.child.id and activated.state == "active"


def test_rep3_without_email_a_letter_is_queued(database: Database, settings: Settings) -> None:
    minor = make_minor(database)
    run_majority(database, settings, BIRTHDAY)
    with database.transaction() as session:
        letters = session.scalars(
            select(PostalLetter).where(PostalLetter.kind == "account.majority")
        ).all()
        assert [letter.holder_id for letter in letters] == [minor.child.id]
        assert (
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "account.majority")
            ).all()
            == []
        )


def test_rep3_running_twice_sends_no_second_code(database: Database, settings: Settings) -> None:
    minor = make_minor(database, email="young@example.org")
    run_majority(database, settings, BIRTHDAY)
    assert run_majority(database, settings, BIRTHDAY) == "0 young adult(s) came of age"
    assert run_majority(database, settings, BIRTHDAY + dt.timedelta(days=1)).startswith("0 ")
    assert codes(database, minor.child.id) == 1
    with database.transaction() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "account.majority")
            )
            == 1
        )


def test_rep3_the_day_before_nothing_happens(database: Database, settings: Settings) -> None:
    minor = make_minor(database)
    assert run_majority(database, settings, BIRTHDAY - dt.timedelta(days=1)).startswith("0 ")
    assert statuses(database, minor.child.id) == {"managing": "accepted", "second": "accepted"}
    assert codes(database, minor.child.id) == 0


def test_rep3_a_missed_birthday_is_caught_up(database: Database, settings: Settings) -> None:
    minor = make_minor(database)
    assert run_majority(database, settings, BIRTHDAY + dt.timedelta(days=9)).startswith("1 ")
    assert statuses(database, minor.child.id) == {"managing": "ended", "second": "ended"}
    assert codes(database, minor.child.id) == 1


@pytest.mark.parametrize(
    ("day", "processed"),
    [(dt.date(2026, 2, 28), 0), (dt.date(2026, 3, 1), 1)],
)
def test_rep3_born_on_29_february(
    database: Database, settings: Settings, day: dt.date, processed: int
) -> None:
    # Same convention as rules.age_on: a 29 February birthday counts on 1 March in other years.
    minor = make_minor(database, birth=dt.date(2008, 2, 29))
    assert run_majority(database, settings, day).startswith(f"{processed} ")
    assert codes(database, minor.child.id) == processed


def test_rep3_rep5_a_guardian_keeps_access_after_majority(
    database: Database, settings: Settings
) -> None:
    minor = make_minor(database, guardian=True)
    run_majority(database, settings, BIRTHDAY)
    assert statuses(database, minor.child.id) == {
        "managing": "ended",
        "second": "ended",
        "guardian": "accepted",
    }
    with database.transaction() as session:
        tutor_id = session.scalars(
            select(Representation.representative_id).where(Representation.role == "guardian")
        ).one()
        assert tutor_id is not None
        assert family.manages(session, tutor_id, minor.child.id, settings=settings) == (
            "representative"
        )


def test_rep3_adults_without_parents_and_closed_spaces(
    database: Database, settings: Settings
) -> None:
    with database.transaction() as session:
        adult = make_holder(session, birth_date=dt.date(1990, 1, 1), state="open")
    closed = make_minor(database)
    with database.transaction() as session:
        row = session.get(Holder, closed.child.id)
        assert row is not None
        row.state = "closed"
    assert run_majority(database, settings, BIRTHDAY).startswith("1 ")
    # The closed space loses its representatives but gets no code (it cannot be activated).
    assert statuses(database, closed.child.id) == {"managing": "ended", "second": "ended"}
    assert codes(database, closed.child.id) == 0
    assert codes(database, adult.id) == 0
    with database.transaction() as session:
        assert session.scalars(select(HolderWish)).all() == []


@given(
    birth=st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
    day=st.dates(dt.date(1950, 1, 1), dt.date(2100, 12, 31)),
    age=st.integers(1, 25),
)
def test_rep3_cutoff_agrees_with_age_on(birth: dt.date, day: dt.date, age: int) -> None:
    # The job's SQL filter (birth_date <= cutoff) selects exactly those who are of age that day.
    cutoff = majority_cutoff(day, age)
    assert (birth <= cutoff) == (not rules.is_minor(birth, day, age))
