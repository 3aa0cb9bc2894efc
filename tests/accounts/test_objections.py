"""Objecting to a suspension (rule LC-6): the notice gives the way (page, code, last day), the
holder — or a minor's representative — objects without logging in within 6 weeks, an operator
decides from a queue (`carnet account objections`, `carnet account objection decide`), and
whoever objected is told. A pending objection keeps the space from being closed."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.accounts import lifecycle, objections, rules
from carnet.accounts.models import Holder, PostalLetter, Representation, SuspensionObjection
from carnet.audit.models import AuditEntry
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import Conflict, InvalidInput
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.factories import make_holder
from tests.notifications.support import mail_text

SUSPENDED_ON = dt.date(2026, 1, 5)
LAST_DAY = dt.date(2026, 2, 15)  # 6 weeks later, the eve of the closing day
CLOSE_DAY = dt.date(2026, 2, 16)
NOTE = "J'étais hospitalisée, ma fille s'est connectée pour moi."


@contextmanager
def on(day: dt.date, settings: Settings) -> Iterator[None]:
    with clock.frozen_at(clock.start_of_day(day, settings.timezone) + dt.timedelta(hours=12)):
        yield


def suspend(database: Database, vault: Vault, settings: Settings, holder_id: uuid.UUID) -> dt.date:
    with on(SUSPENDED_ON, settings), database.transaction() as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        return objections.suspend_and_tell(session, vault, settings, holder, SYSTEM, "fraud")


def mail(database: Database, kind: str, recipient: str | None = None) -> str:
    with database.transaction() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)).all()
        if recipient is not None:
            rows = [row for row in rows if row.recipient == recipient]
        assert len(rows) == 1, [row.recipient for row in rows]
        return mail_text(rows[0])


def notice_code(body: str) -> str:
    found = re.search(r"Code provisoire : ([A-Z0-9-]+)", body)
    assert found is not None
    return found.group(1)


def object_(
    database: Database,
    vault: Vault,
    settings: Settings,
    nir: str,
    code: str,
    day: dt.date,
    *,
    reason: str = "mistake",
    note: str = NOTE,
) -> SuspensionObjection:
    with on(day, settings), database.transaction() as session:
        check = lifecycle.check_code(session, vault, settings, nir, code, client="test")
        return objections.object_to_suspension(
            session, vault, settings, check, reason=reason, note=note
        )


def active(database: Database, email: str = "paul@example.org") -> Holder:
    with database.transaction() as session:
        return make_holder(session, state=rules.ACTIVE, email=email)


def state_of(database: Database, holder_id: uuid.UUID) -> str:
    with database.transaction() as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        return holder.state


# -- the notice --------------------------------------------------------------------------------


def test_lc6_the_suspension_notice_gives_the_way_to_object(
    database: Database, vault: Vault, settings: Settings
) -> None:
    holder = active(database)
    assert suspend(database, vault, settings, holder.id) == LAST_DAY
    body = mail(database, "account.suspended")
    assert f"{settings.base_url}/suspension/objection" in body
    assert "jusqu'au 15/02/2026 inclus" in body
    notice_code(body)


def test_lc6_lc7_a_minors_notice_goes_to_the_representative(
    database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        parent = make_holder(session, email="maman@example.org")
        child = make_holder(session, state=rules.ACTIVE, birth_date=dt.date(2015, 6, 1))
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=parent.id,
                representative_nir=parent.nir,
                role="managing",
                status="accepted",
            )
        )
    suspend(database, vault, settings, child.id)
    code = notice_code(mail(database, "account.suspended", "maman@example.org"))
    # The representative objects with the child's NIR and the code they received.
    row = object_(database, vault, settings, child.nir, code, SUSPENDED_ON)
    assert row.holder_id == child.id


def test_lc6_without_any_address_the_notice_is_undeliverable(
    database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder = make_holder(session, state=rules.ACTIVE, email=None, postal_address=None)
    suspend(database, vault, settings, holder.id)
    with database.transaction() as session:
        [letter] = session.scalars(select(PostalLetter)).all()
        assert letter.kind == "account.suspended"
        assert letter.undeliverable_at is not None and letter.sealed is None


# -- objecting ---------------------------------------------------------------------------------


def test_lc6_objection_within_six_weeks_is_recorded_sealed_and_audited(
    database: Database, vault: Vault, settings: Settings
) -> None:
    holder = active(database)
    suspend(database, vault, settings, holder.id)
    code = notice_code(mail(database, "account.suspended"))
    row = object_(database, vault, settings, holder.nir, code, LAST_DAY)
    assert (row.suspended_on, row.deadline, row.reason) == (SUSPENDED_ON, LAST_DAY, "mistake")
    with database.transaction() as session:
        stored = session.get(SuspensionObjection, row.id)
        assert stored is not None and stored.sealed_note is not None
        assert NOTE.encode() not in stored.sealed_note  # sealed, not in clear
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "account.suspension-objection")
        ).one()
        assert (entry.holder_id, entry.actor_kind, entry.reason) == (
            holder.id,
            "holder",
            "mistake",
        )
    # While the objection waits for a decision, the space is not closed.
    with on(CLOSE_DAY, settings), database.transaction() as session:
        assert lifecycle.close_expired_suspensions(session, settings, CLOSE_DAY) == 0
    assert state_of(database, holder.id) == rules.SUSPENDED


def test_lc6_after_six_weeks_the_objection_is_refused(
    database: Database, vault: Vault, settings: Settings
) -> None:
    holder = active(database)
    suspend(database, vault, settings, holder.id)
    code = notice_code(mail(database, "account.suspended"))
    with pytest.raises(Conflict) as refused:
        object_(database, vault, settings, holder.nir, code, CLOSE_DAY)
    assert refused.value.code == "objection-deadline-passed"
    assert "6 weeks" in refused.value.message
    with database.transaction() as session:
        assert session.scalars(select(SuspensionObjection)).all() == []


def test_lc6_one_objection_per_suspension_and_only_for_a_suspended_space(
    database: Database, vault: Vault, settings: Settings
) -> None:
    holder = active(database)
    suspend(database, vault, settings, holder.id)
    code = notice_code(mail(database, "account.suspended"))
    object_(database, vault, settings, holder.nir, code, SUSPENDED_ON)
    with pytest.raises(Conflict) as again:
        object_(database, vault, settings, holder.nir, code, SUSPENDED_ON)
    assert again.value.code == "code-used"
    with on(SUSPENDED_ON, settings), database.transaction() as session:
        row = session.get(Holder, holder.id)
        assert row is not None
        fresh = lifecycle.issue_code(session, vault, settings, row)
    with pytest.raises(Conflict) as twice:
        object_(database, vault, settings, holder.nir, fresh, SUSPENDED_ON)
    assert twice.value.code == "objection-recorded"
    other = active(database, email="other@example.org")
    with on(SUSPENDED_ON, settings), database.transaction() as session:
        row = session.get(Holder, other.id)
        assert row is not None
        other_code = lifecycle.issue_code(session, vault, settings, row)
    with pytest.raises(Conflict) as live:
        object_(database, vault, settings, other.nir, other_code, SUSPENDED_ON)
    assert live.value.code == "not-suspended"


def test_lc6_a_reason_from_the_list_and_a_short_note(
    database: Database, vault: Vault, settings: Settings
) -> None:
    holder = active(database)
    suspend(database, vault, settings, holder.id)
    code = notice_code(mail(database, "account.suspended"))
    with pytest.raises(InvalidInput):
        object_(database, vault, settings, holder.nir, code, SUSPENDED_ON, reason="because")
    with pytest.raises(InvalidInput):
        object_(database, vault, settings, holder.nir, code, SUSPENDED_ON, note="x" * 1001)
    # Nothing was spent by the refusals: the code still serves.
    object_(database, vault, settings, holder.nir, code, SUSPENDED_ON, reason="other", note="")


# -- the operator's queue (CLI) ------------------------------------------------------------------


def test_lc6_operator_lifts_a_suspension_from_the_queue(
    run_cli, database: Database, vault: Vault, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    holder = active(database)
    with on(SUSPENDED_ON, settings):
        status, out, err = run_cli("account", "suspend", holder.nir, "--reason", "fraud")
    assert status == 0, err
    assert "may object until 2026-02-15" in out and "closes on 2026-02-16" in out
    code = notice_code(mail(database, "account.suspended"))
    older = object_(database, vault, settings, holder.nir, code, SUSPENDED_ON)
    second = active(database, email="second@example.org")
    suspend(database, vault, settings, second.id)
    code2 = notice_code(mail(database, "account.suspended", "second@example.org"))
    object_(database, vault, settings, second.nir, code2, LAST_DAY, reason="care-needs", note="")

    status, out, err = run_cli("account", "objections")
    assert status == 0, err
    assert out.index(str(older.id)) < out.index(second.nir)  # oldest first
    assert "2026-02-15" in out and NOTE in out and "care-needs" in out

    status, _out, err = run_cli("account", "objection", "decide", str(older.id), "--note", "ok")
    assert status == 1 and "exactly one of --uphold and --lift" in err
    with on(LAST_DAY, settings):
        status, out, err = run_cli(
            "account", "objection", "decide", str(older.id), "--lift", "--note", "Vérifié."
        )
    assert status == 0, err
    assert "suspension is lifted" in out
    assert state_of(database, holder.id) == rules.ACTIVE
    told = mail(database, "account.objection-decided", "paul@example.org")
    assert "n'est plus suspendu" in told and "Vérifié" not in told  # the note stays sealed
    status, _out, err = run_cli(
        "account", "objection", "decide", str(older.id), "--uphold", "--note", "again"
    )
    assert status == 1 and "already decided" in err
    status, out, _err = run_cli("account", "objections")
    assert str(older.id) not in out and second.nir in out
    with database.transaction() as session:
        decided = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "account.suspension-objection-decided")
        ).one()
        assert (decided.holder_id, decided.reason, decided.mode) == (holder.id, "lift", "operator")


def test_lc6_an_upheld_suspension_closes_at_the_next_run_after_its_day(
    run_cli, database: Database, vault: Vault, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    holder = active(database)
    suspend(database, vault, settings, holder.id)
    code = notice_code(mail(database, "account.suspended"))
    row = object_(database, vault, settings, holder.nir, code, LAST_DAY)
    later = CLOSE_DAY + dt.timedelta(days=3)
    with on(later, settings), database.transaction() as session:
        assert lifecycle.close_expired_suspensions(session, settings, later) == 0
    with on(later, settings):
        status, out, err = run_cli(
            "account", "objection", "decide", str(row.id), "--uphold", "--note", "Fraude avérée."
        )
    assert status == 0, err
    assert "Suspension upheld" in out
    assert "maintenue" in mail(database, "account.objection-decided")
    with on(later, settings), database.transaction() as session:
        assert lifecycle.close_expired_suspensions(session, settings, later) == 1
    assert state_of(database, holder.id) == rules.CLOSED


def test_lc6_the_queue_is_empty_and_ids_are_checked(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, out, _err = run_cli("account", "objections")
    assert status == 0 and "No objection awaits a decision" in out
    status, _out, err = run_cli("account", "objection", "decide", "nope", "--lift", "--note", "x")
    assert status == 1 and "objection's id" in err
    status, _out, err = run_cli(
        "account", "objection", "decide", str(uuid.uuid4()), "--lift", "--note", "x"
    )
    assert status == 1 and "No such objection" in err


# -- the holder API ------------------------------------------------------------------------------


def test_lc6_objecting_through_the_api(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = active(database)
    suspend(database, vault, settings, holder.id)
    code = notice_code(mail(database, "account.suspended"))
    body = {"nir": holder.nir, "code": code, "reason": "resolved", "note": "Réglé."}
    with on(CLOSE_DAY, settings):
        late = client.post("/api/v1/suspension/objection", json=body)
    assert late.status_code == 409 and "6 weeks" in late.text
    with on(LAST_DAY, settings):
        bad = client.post("/api/v1/suspension/objection", json={**body, "reason": "x"})
        assert bad.status_code == 400
        made = client.post("/api/v1/suspension/objection", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["deadline"] == "2026-02-15"
    with database.transaction() as session:
        assert session.get(SuspensionObjection, uuid.UUID(made.json()["objection_id"]))
