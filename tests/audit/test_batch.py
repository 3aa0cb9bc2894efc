"""Batch appends for bulk jobs (rule ACC-8): the same chains and hashes as one-by-one appends,
interleaving safely with them, and the same checks on what is recorded."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.audit import rules
from carnet.audit.models import AuditChainHead, AuditEntry
from carnet.audit.service import PendingEntry, append_batch
from carnet.audit.signing import Signer
from carnet.audit.verify import verify
from carnet.db import Database
from tests.audit.support import add


def _pending(holder: uuid.UUID | None, n: int = 0) -> PendingEntry:
    return PendingEntry(
        actor_kind="system", actor_id="roster", action="space.create", holder_id=holder,
        target_type="holder", target_id=f"t-{n}",
    )  # fmt: skip


def _seqs(database: Database, chain: str) -> list[int]:
    with database.transaction() as s:
        return list(
            s.scalars(
                select(AuditEntry.seq).where(AuditEntry.chain == chain).order_by(AuditEntry.seq)
            )
        )


def test_a_batch_continues_each_chain_like_single_appends(
    database: Database, signer: Signer
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    with database.transaction() as s:
        add(s, a)
        add(s, None)
    with database.transaction() as s:
        items = [_pending(b, 0), _pending(a, 1), _pending(None, 2), _pending(b, 3), _pending(a, 4)]
        assert append_batch(s, items) == 5
        add(s, a)  # a single append in the same transaction follows the batch
        assert append_batch(s, []) == 0
    assert _seqs(database, rules.chain_for(a)) == [1, 2, 3, 4]
    assert _seqs(database, rules.chain_for(b)) == [1, 2]
    assert _seqs(database, rules.SYSTEM_CHAIN) == [1, 2]
    with database.transaction() as s:
        targets = s.scalars(
            select(AuditEntry.target_id)
            .where(AuditEntry.chain == rules.chain_for(b))
            .order_by(AuditEntry.seq)
        ).all()
        assert targets == ["t-0", "t-3"], "a batch keeps the order of its items within a chain"
        report = verify(s, signer)
    assert report.intact, report.problems


def test_a_rolled_back_batch_leaves_nothing(database: Database, signer: Signer) -> None:
    holder = uuid.uuid4()
    with database.transaction() as s:
        add(s, holder)
    with pytest.raises(RuntimeError), database.transaction() as s:
        append_batch(s, [_pending(holder), _pending(uuid.uuid4())])
        raise RuntimeError("job failed")
    assert _seqs(database, rules.chain_for(holder)) == [1]
    with database.transaction() as s:
        assert verify(s, signer).intact


def test_a_batch_refuses_an_unknown_mode(database: Database) -> None:
    """ACC-8 names the modes; a batch may not record another one any more than `append` may."""
    item = dataclasses.replace(_pending(uuid.uuid4()), mode="sneaky")
    with pytest.raises(ValueError), database.transaction() as s:
        append_batch(s, [item])
    with database.transaction() as s:
        assert s.scalars(select(AuditEntry)).first() is None


def test_concurrent_batches_and_single_appends_keep_chains_gapless(
    database: Database, signer: Signer
) -> None:
    holders = [uuid.uuid4() for _ in range(5)]
    threads, rounds = 8, 5
    barrier = threading.Barrier(threads)

    def work(worker: int) -> None:
        barrier.wait()
        for r in range(rounds):

            def one(s: Session, r: int = r) -> None:
                if worker % 2:
                    # Items in a different order per worker: locking must not depend on it.
                    order = holders[worker % 5 :] + holders[: worker % 5]
                    append_batch(s, [_pending(h, r) for h in order])
                else:
                    # Several chains in one transaction, appended one by one in chain order (the
                    # order batches lock them): the documented way to touch several spaces.
                    for h in sorted(holders, key=lambda x: rules.chain_for(x)):
                        add(s, h)

            database.run(one, attempts=10)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(work, w) for w in range(threads)]:
            future.result()
    for holder in holders:
        assert _seqs(database, rules.chain_for(holder)) == list(range(1, threads * rounds + 1))
    with database.transaction() as s:
        report = verify(s, signer)
    assert report.intact, report.problems


def _heads_follow_their_chains(database: Database) -> dict[str, tuple[int, str]]:
    """Each head names its chain's last entry: seq and hash (migration 0018's trigger)."""
    with database.transaction() as s:
        heads = {h.chain: (h.seq, h.hash) for h in s.scalars(select(AuditChainHead))}
        for chain, (seq, hash_) in heads.items():
            last = s.scalars(
                select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq.desc())
            ).first()
            assert last is not None and (last.seq, last.hash) == (seq, hash_), chain
    return heads


def test_the_database_moves_each_head_to_its_last_entry(database: Database) -> None:
    """ACC-8, two statements an append: the head is reserved and read, the entry inserted; the
    database sets the head's hash from the entry of the reserved seq, one by one or in a batch."""
    a, b = uuid.uuid4(), uuid.uuid4()
    with database.transaction() as s:
        add(s, a)
    first = _heads_follow_their_chains(database)
    with database.transaction() as s:
        append_batch(s, [_pending(a, 1), _pending(b, 2), _pending(a, 3), _pending(None, 4)])
        add(s, b)
    heads = _heads_follow_their_chains(database)
    assert heads[rules.chain_for(a)][0] == 3 and heads[rules.chain_for(b)][0] == 2
    assert heads[rules.chain_for(a)][1] != first[rules.chain_for(a)][1]


def test_an_entry_off_the_reserved_seq_moves_no_head(database: Database) -> None:
    """The trigger follows the seq the append reserved: a row written past it (as a forger
    would) leaves the head where it was."""
    a = uuid.uuid4()
    with database.transaction() as s:
        add(s, a)
    before = _heads_follow_their_chains(database)[rules.chain_for(a)]
    with database.transaction() as s:
        last = s.scalars(select(AuditEntry).where(AuditEntry.chain == rules.chain_for(a))).one()
        forged = {c.key: getattr(last, c.key) for c in AuditEntry.__table__.columns}
        s.execute(
            AuditEntry.__table__.insert().values(
                {**forged, "id": uuid.uuid4(), "seq": last.seq + 5, "hash": "f" * 64}
            )
        )
    with database.transaction() as s:
        head = s.get(AuditChainHead, rules.chain_for(a))
        assert head is not None and (head.seq, head.hash) == before
