"""Concurrent appends (rule ACC-8): no lost or duplicated sequence numbers, whether many requests
write to one space or to many. On SQLite writes serialise (BEGIN IMMEDIATE + busy_timeout); on
PostgreSQL appends to one space queue on its chain head's row lock."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from carnet.audit import rules
from carnet.audit.models import AuditChainHead, AuditEntry
from carnet.audit.signing import Signer
from carnet.audit.verify import verify
from carnet.db import Database
from tests.audit.support import add

THREADS = 8
PER_THREAD = 25


def _hammer(database: Database, holders: list[uuid.UUID]) -> None:
    """THREADS workers, each appending PER_THREAD entries (one transaction each) to its holder."""
    barrier = threading.Barrier(THREADS)

    def work(holder: uuid.UUID) -> None:
        barrier.wait()
        for _ in range(PER_THREAD):
            with database.transaction() as s:
                add(s, holder)

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(work, h) for h in holders]:
            future.result()


def _seqs(database: Database, chain: str) -> list[int]:
    with database.transaction() as s:
        return list(
            s.scalars(
                select(AuditEntry.seq).where(AuditEntry.chain == chain).order_by(AuditEntry.seq)
            )
        )


def test_concurrent_appends_to_one_space_make_one_gapless_chain(
    database: Database, signer: Signer
) -> None:
    holder = uuid.uuid4()
    _hammer(database, [holder] * THREADS)
    total = THREADS * PER_THREAD
    assert _seqs(database, rules.chain_for(holder)) == list(range(1, total + 1))
    with database.transaction() as s:
        head = s.get(AuditChainHead, rules.chain_for(holder))
        assert head is not None and head.seq == total
        report = verify(s, signer)
    assert report.intact, report.problems
    assert (report.entries, report.chains) == (total, 1)


def test_concurrent_appends_to_different_spaces_each_make_a_gapless_chain(
    database: Database, signer: Signer
) -> None:
    holders = [uuid.uuid4() for _ in range(THREADS)]
    _hammer(database, holders)
    for holder in holders:
        assert _seqs(database, rules.chain_for(holder)) == list(range(1, PER_THREAD + 1))
    with database.transaction() as s:
        report = verify(s, signer)
    assert report.intact, report.problems
    assert (report.entries, report.chains) == (THREADS * PER_THREAD, THREADS)
