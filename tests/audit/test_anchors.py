"""No truncation window (rule ACC-8, issue 12 item 7): whoever can write to the database, but not to
the anchor store nor read the audit key, cannot cut a chain's newest entries and rewind its head
without `verify` saying so at once — no checkpoint needed. A crash between a commit and its anchor,
a rolled-back transaction or an append racing `verify` is never reported as tampering."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from carnet import clock
from carnet.audit import anchors
from carnet.audit.anchors import AnchorStore
from carnet.audit.models import AuditEntry
from carnet.audit.service import seal, write_checkpoint
from carnet.audit.signing import Signer
from carnet.audit.verify import VerifyReport, verify
from carnet.config import Settings
from carnet.db import Database
from tests.audit.support import Log, add, tamper


def _verify(database: Database, signer: Signer) -> VerifyReport:
    with database.transaction() as s:
        return verify(s, signer)


def _store(database: Database) -> AnchorStore:
    store = anchors.store_of(database)
    assert store is not None
    return store


def _hash(database: Database, chain: str, seq: int) -> str:
    with database.transaction() as s:
        found = s.scalar(
            select(AuditEntry.hash).where(AuditEntry.chain == chain, AuditEntry.seq == seq)
        )
    assert found is not None
    return found


def _cut(database: Database, chain: str, keep: int) -> None:
    """Delete every entry after #keep and rewind the head (and its checkpoint mark) onto it."""
    kept = _hash(database, chain, keep)
    tamper(database, "DELETE FROM audit_entries WHERE chain = :c AND seq > :k", c=chain, k=keep)
    tamper(
        database,
        "UPDATE audit_chain_heads SET seq = :k, hash = :h, "
        "checkpointed_seq = CASE WHEN checkpointed_seq > :k THEN :k ELSE checkpointed_seq END "
        "WHERE chain = :c",
        k=keep,
        h=kept,
        c=chain,
    )


def _log_files(settings: Settings) -> list[Path]:
    return sorted(settings.effective_audit_anchor_dir.glob("*.log"))


# -- truncation ----------------------------------------------------------------------------------


def test_acc8_cutting_the_newest_entry_is_caught_without_a_checkpoint(
    database: Database, signer: Signer, log: Log
) -> None:
    _cut(database, log.chain_a, 4)
    report = _verify(database, signer)
    assert not report.intact
    assert report.problems[0] == (
        f"chain {log.chain_a}: ends at entry #4 but entry #5 was committed (anchor store): "
        "#5 deleted (truncated)"
    )


def test_acc8_cutting_several_newest_entries_is_caught_without_a_checkpoint(
    database: Database, signer: Signer, log: Log
) -> None:
    _cut(database, log.chain_a, 2)
    problem = _verify(database, signer).problems[0]
    assert f"chain {log.chain_a}: ends at entry #2" in problem
    assert "#3 to #5 deleted (truncated)" in problem


def test_acc8_rewinding_to_an_old_signed_head_is_caught(
    database: Database, signer: Signer, log: Log
) -> None:
    """The head goes back to a state a valid checkpoint signed: checkpoints agree, anchors don't."""
    with database.transaction() as s:
        assert write_checkpoint(s, signer) is not None
    with database.transaction() as s:
        for _ in range(3):
            add(s, log.b)
    _cut(database, log.chain_b, 3)
    report = _verify(database, signer)
    assert [p for p in report.problems if "checkpoint" in p] == []
    assert f"chain {log.chain_b}: ends at entry #3 but entry #6 was committed" in report.problems[0]


def test_acc8_deleting_a_whole_chain_and_its_head_is_caught(
    database: Database, signer: Signer, log: Log
) -> None:
    tamper(database, "DELETE FROM audit_entries WHERE chain = :c", c=log.chain_b)
    tamper(database, "DELETE FROM audit_chain_heads WHERE chain = :c", c=log.chain_b)
    problem = _verify(database, signer).problems[0]
    assert f"chain {log.chain_b}: entry #3 was committed (anchor store)" in problem
    assert "gone" in problem


def test_acc8_replacing_the_newest_entry_is_caught(
    database: Database, signer: Signer, log: Log
) -> None:
    """Same length, every hash recomputed, head fixed: the anchored hash of #5 no longer matches."""
    with database.transaction() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.chain == log.chain_a, AuditEntry.seq == 5)
        ).one()
        s.expunge(entry)
    entry.reason = "covering tracks"
    seal(entry)
    tamper(
        database,
        "UPDATE audit_entries SET reason = :r, content_hash = :ch, hash = :h "
        "WHERE chain = :c AND seq = 5",
        r=entry.reason,
        ch=entry.content_hash,
        h=entry.hash,
        c=log.chain_a,
    )
    tamper(
        database,
        "UPDATE audit_chain_heads SET hash = :h WHERE chain = :c",
        h=entry.hash,
        c=log.chain_a,
    )
    problem = _verify(database, signer).problems[0]
    assert f"chain {log.chain_a} entry #5: not the entry committed then" in problem


# -- no false alarms -----------------------------------------------------------------------------


def test_acc8_a_crash_between_commit_and_anchor_is_a_note_not_tampering(
    database: Database, signer: Signer, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the commit, before the anchor: `verify` stays green, says which
    chains end unanchored, and the next checkpoint anchors them."""

    def crash(self: AnchorStore, heads: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(AnchorStore, "record_heads", crash)
    with database.transaction() as s:
        add(s, log.a)
    monkeypatch.undo()
    report = _verify(database, signer)
    assert report.intact, report.problems
    assert any("not anchored yet" in n and log.chain_a in n for n in report.notes)
    with database.transaction() as s:
        assert write_checkpoint(s, signer) is not None
    report = _verify(database, signer)
    assert report.intact and report.notes == []
    _cut(database, log.chain_a, 5)  # the healed tail is protected again
    assert "truncated" in _verify(database, signer).problems[0]


def test_acc8_a_rolled_back_append_anchors_nothing(
    database: Database, signer: Signer, log: Log, settings: Settings
) -> None:
    before = [p.read_bytes() for p in _log_files(settings)]
    with pytest.raises(RuntimeError), database.transaction() as s:
        add(s, log.a)
        raise RuntimeError("the action failed")
    assert [p.read_bytes() for p in _log_files(settings)] == before
    report = _verify(database, signer)
    assert report.intact and report.notes == []


def test_acc8_an_append_undone_by_a_savepoint_is_not_anchored(
    database: Database, signer: Signer, log: Log
) -> None:
    with database.transaction() as s:
        add(s, log.b)  # #4, kept
        nested = s.begin_nested()
        add(s, log.b)  # #5, undone
        nested.rollback()
    report = _verify(database, signer)
    assert report.intact, report.problems
    assert report.notes == []
    assert _store(database).read().heads[log.chain_b][0] == 4


def test_acc8_an_append_committed_while_verify_runs_is_not_a_truncation(
    database: Database, signer: Signer, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store is read before the database; an entry committed in between is merely newer."""
    read = AnchorStore.read

    def read_then_append(self: AnchorStore, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        view = read(self, *args, **kwargs)  # type: ignore[arg-type]
        with database.transaction() as s:
            add(s, log.a)
        return view

    monkeypatch.setattr(AnchorStore, "read", read_then_append)
    report = _verify(database, signer)
    assert report.intact, report.problems


def test_acc8_concurrent_writers_anchor_every_commit(database: Database, signer: Signer) -> None:
    """Threads appending at once each write their own record; none is torn or lost."""
    holders = [uuid.uuid4() for _ in range(3)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for n in range(10):
                holder = holders[(index + n) % 3]
                database.run(lambda s, h=holder: add(s, h))  # type: ignore[misc]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    view = _store(database).read()
    assert view.problems == [] and view.notes == []
    assert sum(seq for seq, _ in view.heads.values()) == 40
    report = _verify(database, signer)
    assert report.intact and report.notes == [] and report.anchored == 3


def test_acc8_group_committed_reads_are_anchored(
    database: Database, signer: Signer, log: Log
) -> None:
    with database.read_mostly() as s:
        assert add(s, log.a) is None  # held for the group commit
    assert _store(database).read().heads[log.chain_a][0] == 6
    _cut(database, log.chain_a, 5)
    assert "truncated" in _verify(database, signer).problems[0]


# -- the store itself ----------------------------------------------------------------------------


def test_acc8_a_forged_anchor_record_is_named(
    database: Database, signer: Signer, log: Log, settings: Settings
) -> None:
    """Someone who can write the store but lacks the key cannot vouch for a rewound head."""
    path = _log_files(settings)[-1]
    with path.open("ab") as handle:
        handle.write(b'\n{"at":"x","heads":[["%s",4,"%s"]],"mac":"00"}' % (
            log.chain_a.encode(), b"0" * 64,
        ))  # fmt: skip
    problem = _verify(database, signer).problems[0]
    assert f"anchor store {path.name}" in problem
    assert "forged" in problem


def test_acc8_a_torn_anchor_record_is_a_note(
    database: Database, signer: Signer, log: Log, settings: Settings
) -> None:
    path = _log_files(settings)[-1]
    with path.open("ab") as handle:
        handle.write(b'\n{"at":"2026-')
    with database.transaction() as s:
        add(s, log.a)  # the next record starts on a line of its own
    report = _verify(database, signer)
    assert report.intact, report.problems
    assert any("torn" in n for n in report.notes)
    assert _store(database).read().heads[log.chain_a][0] == 6


def test_acc8_old_anchor_files_fold_into_a_summary_that_still_catches_truncation(
    database: Database, signer: Signer, settings: Settings
) -> None:
    """The store grows with the number of chains, not of commits, and keeps its guarantee."""
    holder = uuid.uuid4()
    chain = f"space:{holder}"
    now = dt.datetime.now(dt.UTC)
    for days_ago in (5, 4, 0):
        with clock.frozen_at(now - dt.timedelta(days=days_ago)), database.transaction() as s:
            add(s, holder)
    assert len(_log_files(settings)) == 3
    assert _store(database).compact(now.date()) == 2
    assert [p.stem for p in _log_files(settings)] == [now.date().isoformat()]
    assert (settings.effective_audit_anchor_dir / anchors.SUMMARY).exists()
    assert _verify(database, signer).intact
    for path in _log_files(settings):
        path.unlink()  # only the summary vouches for #2 now
    _cut(database, chain, 2)
    assert _verify(database, signer).intact
    _cut(database, chain, 1)
    assert "truncated" in _verify(database, signer).problems[0]
