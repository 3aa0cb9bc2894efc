"""Appending to the audit log (rule ACC-8): one contiguous hash chain per space plus the system
chain, written in the transaction of the action it records."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import Holder
from carnet.audit import rules
from carnet.audit.models import AuditChainHead, AuditEntry
from carnet.audit.rules import GENESIS, Mode
from carnet.audit.service import record
from carnet.audit.verify import _entries
from carnet.auth.principal import Principal, PrincipalKind
from carnet.db import Database
from tests.audit.support import add
from tests.factories import make_holder


def _chain(session: Session, chain: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq)
        )
    )


def _head(session: Session, chain: str) -> AuditChainHead | None:
    return session.scalars(
        select(AuditChainHead)
        .where(AuditChainHead.chain == chain)
        .execution_options(populate_existing=True)
    ).first()


def test_entries_of_one_space_form_a_contiguous_hash_chain(session: Session) -> None:
    holder = uuid.uuid4()
    entries = [add(session, holder) for _ in range(4)]
    assert [e.chain for e in entries] == [f"space:{holder}"] * 4
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in entries}) == 4
    head = _head(session, f"space:{holder}")
    assert head is not None
    assert (head.seq, head.hash) == (4, entries[-1].hash)


def test_each_space_has_its_own_chain(session: Session) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    add(session, a)
    add(session, a)
    first_b = add(session, b)
    add(session, a)
    assert first_b.chain == rules.chain_for(b) != rules.chain_for(a)
    assert (first_b.seq, first_b.prev_hash) == (1, GENESIS)
    assert [e.seq for e in _chain(session, rules.chain_for(a))] == [1, 2, 3]


def test_actions_outside_any_space_go_to_the_system_chain(session: Session) -> None:
    first = add(session, None, action="operator.login", actor_kind="operator")
    second = add(session, None, action="keys.rotate", actor_kind="operator")
    assert first.chain == second.chain == rules.SYSTEM_CHAIN == "system"
    assert (first.seq, second.seq) == (1, 2)
    assert first.holder_id is None


def test_an_entry_records_who_what_how_and_why_with_ids_only(session: Session) -> None:
    """ACC-8: who, when, what, how (mode) and why (reason code); a principal becomes kind + id."""
    holder = make_holder(session)
    doctor = Principal(PrincipalKind.PROFESSIONAL, uuid.uuid4(), "Dr House")
    entry = record(
        session,
        doctor,
        "document.read",
        holder_id=holder.id,
        target_type="document",
        target_id="d-1",
        mode=Mode.EMERGENCY,
        reason="unconscious",
        request_id="req-1",
    )
    session.expire_all()
    stored = session.get(AuditEntry, entry.id)
    assert stored is not None
    assert (stored.actor_kind, stored.actor_id) == ("professional", str(doctor.id))
    assert (stored.action, stored.mode, stored.reason) == (
        "document.read",
        "emergency",
        "unconscious",
    )
    assert (stored.target_type, stored.target_id, stored.holder_id) == (
        "document",
        "d-1",
        holder.id,
    )
    assert stored.at is not None and stored.at.tzinfo is not None
    assert "House" not in " ".join(str(v) for v in vars(stored).values())


def test_an_unknown_mode_is_refused(session: Session) -> None:
    with pytest.raises(ValueError):
        add(session, uuid.uuid4(), mode="sneaky")


def test_a_rolled_back_action_leaves_no_entry_and_the_head_unchanged(database: Database) -> None:
    holder = uuid.uuid4()
    chain = rules.chain_for(holder)
    with database.transaction() as s:
        committed = add(s, holder)

    with pytest.raises(RuntimeError), database.transaction() as s:
        person = make_holder(s)
        add(s, holder, action="document.deposit")
        add(s, holder, action="document.read")
        raise RuntimeError("the action failed after being audited")

    with database.transaction() as s:
        assert [e.id for e in _chain(s, chain)] == [committed.id]
        head = _head(s, chain)
        assert head is not None
        assert (head.seq, head.hash) == (1, committed.hash)
        assert s.get(Holder, person.id) is None
        # The next append continues the committed chain, not the rolled-back one.
        nxt = add(s, holder)
        assert (nxt.seq, nxt.prev_hash) == (2, committed.hash)


def test_a_rolled_back_first_entry_leaves_no_chain(database: Database) -> None:
    holder = uuid.uuid4()
    session = database.sessionmaker()
    try:
        add(session, holder)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert _head(session, rules.chain_for(holder)) is None
    finally:
        session.rollback()
        session.close()


def test_the_log_is_read_in_chain_order_across_batches(database: Database) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    with database.transaction() as s:
        for _ in range(3):
            add(s, a)
            add(s, b)
            add(s, None)
    with database.transaction() as s:
        seen = [(e.chain, e.seq) for e in _entries(s, batch=2)]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 9
