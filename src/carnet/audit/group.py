"""Group commit of audit entries for reads (rules ACC-8; issue 5's read throughput).

Every read of health data is audited, and the entry must be durable before the data leaves. One
commit (one fsync) per read caps reads at the disk's commit rate, and on PostgreSQL every reader of
a space queues on its chain head. A read-mostly session (`Database.read_mostly`) therefore holds
its entries until it commits: if the transaction wrote something else, they are appended inside it
(entry and action commit together); otherwise they join the entries of every other request waiting
at that moment, and one transaction appends them all. The session's commit returns only once that
transaction is committed, so the rule "durable before the response" still holds.

No thread of its own: the first waiter commits for everyone queued (leader), the others wait.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from carnet import metrics
from carnet.db import DATABASE, READ_MOSTLY, Database, is_retryable, session_wrote

if TYPE_CHECKING:
    from carnet.audit.service import PendingEntry

DEFERRED = "carnet.audit.deferred"
BATCHED = "carnet.audit.batched"
_EXTENSION = "audit.group"


def batch(session: Session) -> None:
    """Hold this unit of work's entries until it commits, then append them together with a few
    statements (`append_batch`), in the same transaction as what they record: for a unit of work
    that records many entries (an ITI-65 Bundle, one per document). ACC-8 holds: the entries
    commit with the action or vanish with it."""
    session.info[BATCHED] = True


def defer(session: Session, entry: PendingEntry) -> bool:
    """Hold `entry` until the session commits, when the session is read-mostly or batched."""
    if not (session.info.get(READ_MOSTLY) or session.info.get(BATCHED)):
        return False
    session.info.setdefault(DEFERRED, []).append(entry)
    return True


@dataclass
class _Ticket:
    entries: list[PendingEntry]
    done: bool = False
    error: BaseException | None = None


@dataclass
class GroupCommit:
    """The queue of entries waiting for a commit, for one database."""

    database: Database
    attempts: int = 5
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _queue: list[_Ticket] = field(default_factory=list)
    _busy: bool = False
    # Figures for the bench: how many commits, how many entries.
    commits: int = 0
    entries: int = 0

    def commit(self, entries: list[PendingEntry]) -> None:
        """Return once `entries` are committed (with whatever else was waiting), or raise."""
        ticket = _Ticket(list(entries))
        with self._cond:
            self._queue.append(ticket)
            while not ticket.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                batch, self._queue = self._queue, []
                self._cond.release()
                error: BaseException | None = None
                try:
                    self._write([e for t in batch for e in t.entries])
                except BaseException as exc:  # every waiter of the batch gets the failure
                    error = exc
                finally:
                    self._cond.acquire()
                for waiting in batch:
                    waiting.done, waiting.error = True, error
                size = sum(len(t.entries) for t in batch)
                self.commits += 1
                self.entries += size
                if error is None:
                    metrics.GROUP_COMMIT_ENTRIES.observe(size)
                self._busy = False
                self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error

    def _write(self, entries: list[PendingEntry]) -> None:
        from carnet.audit.service import append_batch

        for attempt in range(1, self.attempts + 1):
            try:
                with self.database.side_transaction() as session:
                    append_batch(session, entries)
                return
            except OperationalError as exc:
                if attempt == self.attempts or not is_retryable(exc):
                    raise
                time.sleep(0.005 * attempt)


def group_for(database: Database) -> GroupCommit:
    found = database.extensions.get(_EXTENSION)
    if found is None:
        found = database.extensions.setdefault(_EXTENSION, GroupCommit(database))
    assert isinstance(found, GroupCommit)
    return found


@event.listens_for(Session, "before_commit")
def _flush_deferred(session: Session) -> None:
    pending: list[PendingEntry] | None = session.info.pop(DEFERRED, None)
    if not pending:
        return
    if not session.info.get(READ_MOSTLY) or session_wrote(session):
        from carnet.audit.service import append_batch

        append_batch(session, pending)  # with the action it records, in one commit
        return
    database: Any = session.info.get(DATABASE)
    assert isinstance(database, Database)
    group_for(database).commit(pending)


@event.listens_for(Session, "after_rollback")
def _drop_deferred(session: Session) -> None:
    session.info.pop(DEFERRED, None)
