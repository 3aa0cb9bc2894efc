"""The space's state machine (rules LC-1…LC-8): every transition allowed, refused and audited."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import lifecycle, passwords, rules
from carnet.accounts import purge as purge_service
from carnet.accounts.models import Holder, ProvisionalCode, Tombstone
from carnet.audit.models import AuditEntry
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.errors import Conflict, InvalidInput
from carnet.jobs.service import load_jobs, run_due
from carnet.vault.service import Vault
from tests.factories import make_holder

PARIS_NOON = dt.time(12, 0)


def at_day(day: dt.date) -> dt.datetime:
    return clock.start_of_day(day) + dt.timedelta(hours=12)


def audit_actions(session: Session, holder_id: object) -> list[str]:
    return list(
        session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.holder_id == holder_id)
            .order_by(AuditEntry.seq)
        )
    )


def notified(session: Session, notice: dt.date, **overrides: object) -> Holder:
    values: dict[str, object] = {
        "state": rules.NOTIFIED,
        "notified_on": notice,
        "opposition_deadline": rules.opposition_deadline(notice),
    }
    values.update(overrides)
    return make_holder(session, **values)


# -- the pure machine ---------------------------------------------------------------------


@given(st.sampled_from(sorted(rules.TRANSITIONS)), st.sampled_from(rules.STATES))
def test_machine_only_moves_along_listed_edges(event: str, state: str) -> None:
    target = rules.next_state(event, state)
    if state in rules.TRANSITIONS[event]:
        assert target == rules.TRANSITIONS[event][state]
    else:
        assert target is None


def test_lc5_purged_is_final_and_purge_pending_only_goes_to_purged() -> None:
    assert [e for e in rules.TRANSITIONS if rules.next_state(e, rules.PURGED)] == []
    assert {rules.next_state(e, rules.PURGE_PENDING) for e in rules.TRANSITIONS} == {
        None,
        rules.PURGED,
    }


def test_lc1_deadline_is_six_weeks_and_lc2_inclusive() -> None:
    notice = dt.date(2026, 1, 5)
    deadline = rules.opposition_deadline(notice)
    assert deadline == dt.date(2026, 2, 16)
    assert rules.may_oppose(rules.NOTIFIED, deadline, deadline)
    assert not rules.may_oppose(rules.NOTIFIED, deadline, deadline + dt.timedelta(days=1))
    assert not rules.is_due_to_open(rules.NOTIFIED, deadline, deadline)
    assert rules.is_due_to_open(rules.NOTIFIED, deadline, deadline + dt.timedelta(days=1))


def test_lc5_archive_is_ten_years_leap_day_safe() -> None:
    assert rules.archive_purge_day(dt.date(2026, 3, 1)) == dt.date(2036, 3, 1)
    assert rules.archive_purge_day(dt.date(2028, 2, 29)) == dt.date(2038, 2, 28)


@given(st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)))
def test_rep3_majority_on_the_18th_birthday(birth: dt.date) -> None:
    eighteenth = rules.archive_purge_day(birth, 18)  # same day 18 years later, 28/2 for 29/2
    if birth.month == 2 and birth.day == 29:
        eighteenth = dt.date(birth.year + 18, 3, 1)
    assert rules.is_minor(birth, eighteenth - dt.timedelta(days=1))
    assert not rules.is_minor(birth, eighteenth)


def test_codes_are_twelve_unambiguous_characters() -> None:
    import secrets

    code = rules.new_code(secrets.choice)
    assert len(code) == 12
    assert not set(code) & set("0O1IL5S2Z8B")
    shown = rules.format_code(code)
    assert shown.count("-") == 2 and rules.normalize_code(shown.lower()) == code
    assert rules.normalize_code("ABCD") is None


# -- transitions through the service ------------------------------------------------------


def test_lc2_opposition_until_the_deadline(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = notified(session, dt.date(2026, 1, 5))
    code = lifecycle.issue_code(session, vault, settings, holder)
    with clock.frozen_at(at_day(dt.date(2026, 2, 16))):
        check = lifecycle.check_code(
            session, vault, settings, holder.nir, code, client="testclient"
        )
        proof = lifecycle.oppose(session, settings, check)
    assert holder.state == rules.OPPOSED
    assert proof.holder_id == holder.id
    assert "account.oppose" in audit_actions(session, holder.id)


def test_lc2_opposition_after_the_deadline_is_refused(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = notified(session, dt.date(2026, 1, 5))
    code = lifecycle.issue_code(session, vault, settings, holder)
    with clock.frozen_at(at_day(dt.date(2026, 2, 17))):
        check = lifecycle.check_code(
            session, vault, settings, holder.nir, code, client="testclient"
        )
        with pytest.raises(Conflict, match="deadline has passed"):
            lifecycle.oppose(session, settings, check)
    assert holder.state == rules.NOTIFIED


def test_lc3_opposing_the_dmp_migration_only_keeps_the_space(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = notified(session, clock.today())
    code = lifecycle.issue_code(session, vault, settings, holder)
    check = lifecycle.check_code(session, vault, settings, holder.nir, code, client="testclient")
    lifecycle.oppose(session, settings, check, dmp_only=True)
    assert holder.state == rules.NOTIFIED
    assert holder.dmp_migration_opposed is True


def test_lc3_jobs_open_spaces_past_the_deadline(
    database,
    vault: Vault,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    notice = dt.date(2026, 1, 5)
    with database.transaction() as session:
        due = notified(session, notice).id
        early = notified(session, notice + dt.timedelta(days=1)).id
        opposed = notified(session, notice, state=rules.OPPOSED).id
    load_jobs()
    outcomes = run_due(database, settings, as_of=dt.date(2026, 2, 17))
    assert any(o.name == "accounts.open-due" and o.summary == "1 space(s) opened" for o in outcomes)
    with database.transaction() as session:
        assert session.get(Holder, due).state == rules.OPEN
        assert session.get(Holder, early).state == rules.NOTIFIED
        assert session.get(Holder, opposed).state == rules.OPPOSED
        assert "account.open" in audit_actions(session, due)
    # LC-3 again the next day: the other one opens, idempotent for the first.
    run_due(database, settings, as_of=dt.date(2026, 2, 18))
    with database.transaction() as session:
        assert session.get(Holder, early).state == rules.OPEN
        assert audit_actions(session, due).count("account.open") == 1


def test_lc4_activation_before_or_after_the_deadline(
    session: Session, vault: Vault, settings: Settings
) -> None:
    for state in (rules.NOTIFIED, rules.OPEN):
        holder = notified(session, clock.today(), state=state)
        code = lifecycle.issue_code(session, vault, settings, holder)
        check = lifecycle.check_code(
            session, vault, settings, holder.nir, code, client="testclient"
        )
        lifecycle.activate(
            session,
            settings,
            check,
            birth_date=holder.birth_date,
            username=f"user{holder.nir[-6:]}",
            password="correct horse battery staple",
            email="h@example.org",
        )
        assert holder.state == rules.ACTIVE
        assert holder.password_hash and holder.password_hash.startswith("$argon2id$")
        assert "account.activate" in audit_actions(session, holder.id)


def test_lc4_codes_are_single_use_replaced_and_expire(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = notified(session, clock.today())
    first = lifecycle.issue_code(session, vault, settings, holder)
    second = lifecycle.issue_code(session, vault, settings, holder)
    check = lifecycle.check_code(session, vault, settings, holder.nir, first, client="testclient")
    assert isinstance(check.error, Conflict) and check.error.code == "code-replaced"
    check = lifecycle.check_code(session, vault, settings, holder.nir, second, client="testclient")
    assert check.error is None
    lifecycle.oppose(session, settings, check)
    again = lifecycle.check_code(session, vault, settings, holder.nir, second, client="testclient")
    assert isinstance(again.error, Conflict) and again.error.code == "code-used"
    other = notified(session, clock.today())
    code = lifecycle.issue_code(session, vault, settings, other)
    with clock.frozen_at(clock.now() + dt.timedelta(days=settings.code_ttl_days, seconds=1)):
        late = lifecycle.check_code(session, vault, settings, other.nir, code, client="testclient")
    assert isinstance(late.error, Conflict) and late.error.code == "code-expired"


def test_codes_are_stored_only_as_keyed_hashes(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = notified(session, clock.today())
    code = lifecycle.issue_code(session, vault, settings, holder)
    stored = session.scalars(select(ProvisionalCode.code_hash)).one()
    assert code not in stored
    import hashlib

    assert stored != hashlib.sha256(rules.code_hash_input(holder.nir, code).encode()).hexdigest()


def test_unknown_nir_and_wrong_code_look_the_same(
    session: Session, vault: Vault, settings: Settings
) -> None:
    """LC-2: the check is no oracle of who has a space."""
    holder = notified(session, clock.today())
    lifecycle.issue_code(session, vault, settings, holder)
    unknown = lifecycle.check_code(
        session,
        vault,
        settings,
        rules.make_nir(2, 1990, 1, "13", 1, 1),
        "AAAA-AAAA-AAAA",
        client="testclient",
    )
    wrong = lifecycle.check_code(
        session, vault, settings, holder.nir, "AAAA-AAAA-AAAA", client="testclient"
    )
    assert str(unknown.error) == str(wrong.error)
    assert unknown.holder is None and wrong.holder is None


def test_lc5_close_keeps_an_archive_for_ten_years(session: Session, settings: Settings) -> None:
    holder = make_holder(session, state=rules.ACTIVE)
    with clock.frozen_at(at_day(dt.date(2026, 3, 1))):
        lifecycle.close(session, settings, holder, SYSTEM, purge=False)
    assert holder.state == rules.CLOSED
    assert holder.purge_due_on == dt.date(2036, 3, 1)


def test_lc5_purge_on_request_then_no_activation(
    database,
    vault: Vault,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    with database.transaction() as session:
        holder = make_holder(session, state=rules.ACTIVE)
        holder_id, nir = holder.id, holder.nir
        vault.seal_text(session, holder_id, "r1", "test", "marker")
        lifecycle.close(session, settings, holder, SYSTEM, purge=True)
        assert holder.state == rules.PURGE_PENDING
        code = lifecycle.issue_code(session, vault, settings, holder)
        check = lifecycle.check_code(session, vault, settings, nir, code, client="testclient")
        with pytest.raises(Conflict, match="erasure"):
            lifecycle.activate(
                session,
                settings,
                check,
                birth_date=holder.birth_date,
                username="someone",
                password="correct horse battery staple",
                email="a@example.org",
            )
    load_jobs()
    run_due(database, settings, as_of=clock.today())
    with database.transaction() as session:
        assert session.get(Holder, holder_id) is None
        assert purge_service.is_tombstoned(session, vault, nir)
        assert session.scalars(select(Tombstone)).one().reason == "holder-request"
        # LC-8: the space's own chain keeps no action; the system chain records the erasure.
        assert audit_actions(session, holder_id) == []
        assert session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.chain == "system", AuditEntry.target_id == str(holder_id)
            )
        ).all() == ["account.purge"]


def test_lc5_closed_holder_comes_back_with_a_renewal_code(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(
        session,
        state=rules.ACTIVE,
        email="x@example.org",
        password_hash=passwords.hash_password("correct horse battery"),
    )
    lifecycle.close(session, settings, holder, SYSTEM, purge=False)
    assert lifecycle.renew(session, vault, settings, holder.nir) == "sent"
    assert holder.state == rules.CLOSED  # asking is not enough: the code must come back
    code = session.scalars(
        select(ProvisionalCode).where(
            ProvisionalCode.used_at.is_(None), ProvisionalCode.revoked_at.is_(None)
        )
    ).one()
    assert code.purpose == "renewal"
    # The code itself went out by e-mail; take it from the outbox.
    from carnet.notifications.models import OutboxMessage

    body = session.scalars(select(OutboxMessage.body_text)).all()[-1]
    typed = body.split("Code provisoire : ")[1].split()[0]
    check = lifecycle.check_code(session, vault, settings, holder.nir, typed, client="testclient")
    lifecycle.activate(
        session,
        settings,
        check,
        birth_date=holder.birth_date,
        username="back",
        password="correct horse battery staple",
        email="x@example.org",
    )
    assert holder.state == rules.ACTIVE and holder.purge_due_on is None
    assert (
        lifecycle.renew(session, vault, settings, rules.make_nir(1, 1990, 1, "13", 1, 2))
        == "unknown"
    )


def test_lc2_a_notice_code_does_not_undo_an_opposition(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session, state=rules.OPPOSED)
    code = lifecycle.issue_code(session, vault, settings, holder)
    check = lifecycle.check_code(session, vault, settings, holder.nir, code, client="testclient")
    with pytest.raises(Conflict):
        lifecycle.activate(
            session,
            settings,
            check,
            birth_date=holder.birth_date,
            username="again",
            password="correct horse battery staple",
            email="x@example.org",
        )
    assert holder.state == rules.OPPOSED


def test_renewals_are_limited_per_person(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session, state=rules.OPPOSED, email="x@example.org")
    outcomes = [lifecycle.renew(session, vault, settings, holder.nir) for _ in range(5)]
    assert outcomes == ["sent", "sent", "sent", "throttled", "throttled"]
    assert holder.state == rules.OPPOSED


def test_lc6_suspension_closes_after_six_weeks_without_objection(
    session: Session, settings: Settings
) -> None:
    holder = make_holder(session, state=rules.ACTIVE)
    with clock.frozen_at(at_day(dt.date(2026, 1, 5))):
        lifecycle.suspend(session, settings, holder, SYSTEM, "fraud-suspected")
    assert lifecycle.close_expired_suspensions(session, settings, dt.date(2026, 2, 15)) == 0
    assert holder.state == rules.SUSPENDED
    with clock.frozen_at(at_day(dt.date(2026, 2, 16))):
        assert lifecycle.close_expired_suspensions(session, settings, dt.date(2026, 2, 16)) == 1
    assert holder.state == rules.CLOSED
    assert holder.close_reason == "suspension-expired"
    assert audit_actions(session, holder.id)[-1] == "account.close"


def test_lc6_death_closes_the_space(session: Session, settings: Settings) -> None:
    holder = make_holder(session, state=rules.ACTIVE)
    with pytest.raises(InvalidInput):
        lifecycle.mark_deceased(
            session, settings, holder, SYSTEM, clock.today() + dt.timedelta(days=1)
        )
    lifecycle.mark_deceased(session, settings, holder, SYSTEM, clock.today())
    assert holder.state == rules.CLOSED and holder.close_reason == "deceased"
    assert "account.decease" in audit_actions(session, holder.id)


def test_refused_transition_changes_nothing(session: Session, settings: Settings) -> None:
    holder = make_holder(session, state=rules.OPPOSED)
    before = audit_actions(session, holder.id)
    with pytest.raises(Conflict):
        lifecycle.suspend(session, settings, holder, SYSTEM, "fraud")
    assert holder.state == rules.OPPOSED
    assert audit_actions(session, holder.id) == before


# -- operator commands -----------------------------------------------------------------------


def test_operator_commands(run_cli, database) -> None:  # type: ignore[no-untyped-def]
    with database.transaction() as session:
        nir = make_holder(session, state=rules.ACTIVE).nir
    status, out, _ = run_cli("account", "show", nir)
    assert status == 0 and "active" in out
    status, out, err = run_cli("account", "suspend", nir, "--reason", "fraud-suspected")
    assert status == 0, err
    assert run_cli("account", "show", nir)[1].count("suspended") >= 1
    status, _out, err = run_cli("account", "suspend", nir, "--reason", "again")
    assert status == 1 and "suspended" in err
    assert run_cli("account", "close", nir, "--reason", "operator-close")[0] == 0
    status, _out, err = run_cli("account", "show", "123")
    assert status == 1 and "Invalid NIR" in err
    status, _out, err = run_cli("account", "show", rules.make_nir(1, 1950, 1, "75", 1, 9))
    assert status == 1 and "No space" in err
    with database.transaction() as session:
        other = make_holder(session, state=rules.ACTIVE).nir
    status, out, err = run_cli(
        "account", "mark-deceased", other, "--reason", "civil-status", "--on", "2026-01-02"
    )
    assert status == 0, err
    assert "closed" in out
