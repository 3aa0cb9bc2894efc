"""Group commit of read audit entries (ACC-8): durable before the answer, one commit for many
readers, and never detached from the action it records."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from carnet.audit import group
from carnet.audit.models import AuditEntry
from carnet.audit.signing import Signer
from carnet.audit.verify import verify
from carnet.db import Database
from tests.audit.support import add
from tests.fhir.support import deposit_one, people


def _count(database: Database, **where: object) -> int:
    with database.transaction() as s:
        query = select(func.count()).select_from(AuditEntry)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        return int(s.scalar(query) or 0)


def test_a_pure_read_entry_is_durable_when_the_unit_of_work_ends(database: Database) -> None:
    holder = uuid.uuid4()
    with database.read_mostly() as s:
        assert add(s, holder, target_id="doc-1") is None  # held until the commit
        assert _count(database, holder_id=holder) == 0
    assert _count(database, holder_id=holder, target_id="doc-1") == 1
    assert group.group_for(database).commits == 1


def test_waiting_readers_share_one_commit(database: Database, signer: Signer) -> None:
    """The first reader commits alone; the four that queue meanwhile share the next commit."""
    committer = group.group_for(database)
    real_write = committer._write
    queued = threading.Event()

    def slow_first_write(entries: list[group.PendingEntry]) -> None:
        if not queued.is_set():
            with committer._cond:
                while len(committer._queue) < 4:
                    committer._cond.wait(timeout=0.05)
            queued.set()
        real_write(entries)

    committer._write = slow_first_write  # type: ignore[method-assign]
    holder = uuid.uuid4()
    errors: list[BaseException] = []

    def reader(n: int) -> None:
        try:
            with database.read_mostly() as s:
                add(s, holder, target_id=f"doc-{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    first = threading.Thread(target=reader, args=(0,))
    first.start()
    while not committer._busy:
        threading.Event().wait(0.005)
    others = [threading.Thread(target=reader, args=(n,)) for n in range(1, 5)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(timeout=60)
    assert not errors
    assert (committer.commits, committer.entries) == (2, 5)
    assert _count(database, holder_id=holder) == 5
    with database.transaction() as s:
        assert verify(s, signer).intact


def test_an_entry_commits_with_the_write_it_records_or_not_at_all(database: Database) -> None:
    holder = uuid.uuid4()
    with database.read_mostly() as s:
        add(s, holder, action="document.read")
        add(s, holder, action="document.pin")
        s.execute(text("UPDATE audit_chain_heads SET checkpointed_seq = checkpointed_seq"))
    assert _count(database, holder_id=holder) == 2
    assert group.group_for(database).commits == 0  # appended inside the writing transaction

    with pytest.raises(RuntimeError), database.read_mostly() as s:
        add(s, holder, action="document.read")
        raise RuntimeError("the read failed before its answer left")
    assert _count(database, holder_id=holder) == 2


def test_a_failed_group_commit_fails_the_read(database: Database) -> None:
    """No entry, no answer: the reader's unit of work raises instead of returning data."""
    committer = group.group_for(database)

    def broken(entries: list[group.PendingEntry]) -> None:
        raise OperationalError("INSERT", None, Exception("disk I/O error"))

    committer._write = broken  # type: ignore[method-assign]
    with pytest.raises(OperationalError), database.read_mostly() as s:
        add(s, uuid.uuid4())


def test_a_reader_does_not_hold_up_writers_and_can_still_write(database: Database) -> None:
    """A read-mostly unit of work takes no write lock until it writes; its first write starts
    from a fresh snapshot, even when another writer committed in between."""
    holder = uuid.uuid4()
    with database.read_mostly() as reader:
        reader.scalar(select(func.count()).select_from(AuditEntry))
        done = threading.Event()

        def writer() -> None:
            with database.transaction() as s:
                add(s, holder, action="document.deposit")
            done.set()

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(timeout=20)
        assert done.is_set()
        add(reader, holder, action="document.read")
        reader.execute(text("UPDATE audit_chain_heads SET checkpointed_seq = checkpointed_seq"))
    assert _count(database, holder_id=holder) == 2


def test_an_http_read_answers_only_after_its_entry_is_committed(client, database: Database) -> None:  # type: ignore[no-untyped-def]
    """A FHIR read is a GET: its entry goes through the group commit and is there once the
    answer arrives (ACC-8)."""
    who = people(database)
    created = deposit_one(client, who)
    before = group.group_for(database).commits
    response = client.get(f"/fhir/DocumentReference/{created['id']}", headers=who.holder)
    assert response.status_code == 200
    assert group.group_for(database).commits == before + 1
    assert _count(database, holder_id=who.holder_id, target_id=created["id"], actor_kind="holder") >= 1


def test_a_savepoint_in_a_read_mostly_unit_survives_its_first_write(database: Database) -> None:
    """The restart that takes the write lock happens before a savepoint, never inside one."""
    holder = uuid.uuid4()
    with database.read_mostly() as s:
        s.scalar(select(func.count()).select_from(AuditEntry))
        with s.begin_nested():
            s.execute(text("UPDATE audit_chain_heads SET checkpointed_seq = checkpointed_seq"))
            add(s, holder, action="document.pin")
    assert _count(database, holder_id=holder, action="document.pin") == 1
