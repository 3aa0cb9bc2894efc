"""Database engine, sessions and the declarative base shared by every domain.

SQLite (WAL, foreign keys, secure delete) is the embedded default; PostgreSQL through psycopg 3 is
the scale path. Services receive a Session and never commit: the edge (request, CLI command, job)
owns the transaction through `Database.transaction()`.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from sqlalchemy import ColumnElement, DateTime, Engine, MetaData, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from carnet.errors import DatabaseUnavailable, keeps_written

if TYPE_CHECKING:
    from carnet.config import Settings

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base: constraint names are deterministic so one migration chain fits both engines."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored in UTC and always returned timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def new_id() -> uuid.UUID:
    """Random identifiers everywhere an id leaves the database (never sequential)."""
    return uuid.uuid4()


WROTE = "carnet.wrote"
WRITER = "carnet.writer"
READ_MOSTLY = "carnet.read_mostly"
DATABASE = "carnet.database"

_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")
READERS = 40  # the server's worker threads (AnyIO's default limiter)


def _is_write(statement: str, context: Any) -> bool:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    return statement.lstrip()[:7].upper().startswith(_DML)


# -- the unit of work's cache ----------------------------------------------------------------

UNIT_CACHE = "carnet.unit_cache"
_DML_TABLE = re.compile(
    r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+"?(\w+)"?',
    re.IGNORECASE,
)


@dataclass
class _UnitCache:
    """What a unit of work has already read, with the tables each value was read from."""

    values: dict[Any, tuple[frozenset[str], Any]] = field(default_factory=dict)

    def forget(self, table: str | None) -> None:
        """A write to `table` (None: unknown) drops every value read from it."""
        if table is None:
            self.values.clear()
            return
        for key in [k for k, (tables, _v) in self.values.items() if table in tables]:
            del self.values[key]


def unit_cached(session: Session, key: Any, tables: frozenset[str], compute: Callable[[], T]) -> T:
    """`compute()` once per unit of work: the value is kept in the session's transaction until
    it ends (commit or rollback, savepoints included) or until any statement of that transaction
    writes to one of `tables` (or to a table it cannot name), whatever issued the write.

    For facts a request reads several times (who acts on which space, a holder's data key):
    never kept beyond the transaction, never stale after a write within it.
    """
    connection = session.connection()  # the transaction's connection (begins it if needed)
    cache = connection.info.get(UNIT_CACHE)
    if cache is None:
        cache = connection.info[UNIT_CACHE] = _UnitCache()
    found = cache.values.get(key)
    if found is not None:
        return cast(T, found[1])
    value = compute()
    cache.values[key] = (tables, value)
    return value


def unit_keep(session: Session, key: Any, tables: frozenset[str], value: Any) -> None:
    """Keep `value` as if `unit_cached(session, key, tables, …)` had computed it: for facts read
    by another domain's query (`Preload`), so that the owner's later call costs no statement."""
    connection = session.connection()
    cache = connection.info.get(UNIT_CACHE)
    if cache is None:
        cache = connection.info[UNIT_CACHE] = _UnitCache()
    cache.values.setdefault(key, (tables, value))


KeyColumn = ColumnElement[Any] | QueryableAttribute[Any]
"""The column a `Preload` joins on: a model's attribute or an expression."""


class Preload(Protocol):
    """A domain's share of a query another domain runs (issue 13: resolve who acts on which space
    once per request). The owner of the tables writes the join and keeps what it read in its own
    cache (`unit_keep`, the identity map), so one statement loads, say, a token, its holder, the
    space's switches and its data key, while each domain still queries only its own tables.

    `join` adds `width` columns (outer-joined on the space's holder id) to a statement; `keep` is
    given those columns of the row found and the holder id they were joined on."""

    width: int

    def join(self, statement: Select[Any], holder_id: KeyColumn) -> Select[Any]: ...

    def keep(self, session: Session, holder_id: uuid.UUID, values: Sequence[Any]) -> None: ...


def preload(statement: Select[Any], holder_id: KeyColumn, parts: Sequence[Preload]) -> Select[Any]:
    """`statement` with each part's columns added after its own, in order."""
    for part in parts:
        statement = part.join(statement, holder_id)
    return statement


def keep_preloaded(
    session: Session,
    row: Sequence[Any],
    holder_id: uuid.UUID | None,
    parts: Sequence[Preload],
) -> Sequence[Any]:
    """Hand each part its columns (the last ones of `row`); returns the row's own columns. With
    no holder id (the statement's row has no space), nothing is kept."""
    end = len(row)
    for part in reversed(parts):
        start = end - part.width
        if holder_id is not None:
            part.keep(session, holder_id, row[start:end])
        end = start
    return row[:end]


def _written_table(statement: str) -> str | None:
    found = _DML_TABLE.match(statement)
    return found.group(1).lower() if found else None


def _track_writes(engine: Engine) -> None:
    """Remember on the connection whether its transaction wrote anything: a read-mostly session
    commits its audit entries in a group when it did not (see `Database.read_mostly`); and drop
    what the unit of work's cache read from a table written to (`unit_cached`)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(
        connection: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if _is_write(statement, context):
            connection.info[WROTE] = True
            cache = connection.info.get(UNIT_CACHE)
            if cache is not None:
                cache.forget(_written_table(statement))

    def _end(connection: Any) -> None:
        connection.info.pop(WROTE, None)
        connection.info.pop(UNIT_CACHE, None)

    def _forget(connection: Any, *_args: Any) -> None:
        # A savepoint rolled back undoes writes the cache may have seen: start afresh.
        connection.info.pop(UNIT_CACHE, None)

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)
    event.listen(engine, "begin", _forget)
    event.listen(engine, "rollback_savepoint", _forget)


def _configure_sqlite(engine: Engine, writer: threading.Lock, *, read_mostly: bool = False) -> None:
    event.listen(engine, "connect", _on_sqlite_connect)
    become_writer = _writer_queue(writer)
    _listen_sqlite_begin(engine, become_writer, read_mostly=read_mostly)
    _listen_sqlite_end(engine, writer)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions itself: we issue BEGIN IMMEDIATE below, so that a
    # transaction that reads then writes (every audited read does) never fails to upgrade its lock.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Freed pages are zeroed, so erased health data does not linger in the file (rule LC-8).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


# SQLite has one writer at a time, and its busy handler waits by sleeping in growing steps:
# under load, requests would queue by luck with seconds of tail latency. Writers of this
# process queue on a lock instead, in arrival order, and only then take SQLite's write lock.


def _release_writer(info: dict[str, Any], writer: threading.Lock) -> None:
    if info.pop(WRITER, False):
        writer.release()


def _writer_queue(writer: threading.Lock) -> Callable[[Any], None]:
    """What a connection calls to take its turn as this process's one writer."""

    def _become_writer(connection: Any) -> None:
        if not writer.acquire(timeout=60):
            raise OperationalError("BEGIN", None, Exception("database is locked"))
        connection.info[WRITER] = True
        try:
            raw = connection.connection.driver_connection
            # A read transaction cannot always be upgraded in WAL mode (its snapshot may be older
            # than the last commit): start over with the write lock and a fresh snapshot.
            if raw.in_transaction:
                raw.rollback()
            raw.execute("BEGIN IMMEDIATE")
        except BaseException:
            _release_writer(connection.info, writer)
            raise

    return _become_writer


def _listen_sqlite_begin(
    engine: Engine, become_writer: Callable[[Any], None], *, read_mostly: bool
) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if read_mostly:
            # Readers never wait for writers in WAL mode: no lock until the first write.
            connection.exec_driver_sql("BEGIN")
        else:
            become_writer(connection)

    if read_mostly:

        @event.listens_for(engine, "before_cursor_execute")
        def _on_execute(
            connection: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
        ) -> None:
            # A savepoint would not survive the restart below: take the lock before it.
            if not connection.info.get(WRITER) and (
                _is_write(statement, context) or statement.lstrip()[:9].upper() == "SAVEPOINT"
            ):
                become_writer(connection)


def _listen_sqlite_end(engine: Engine, writer: threading.Lock) -> None:
    # These events run just before SQLAlchemy ends the transaction: end it here on the driver
    # connection (the driver's own commit/rollback then find nothing to do), then let the next
    # writer in.
    @event.listens_for(engine, "commit")
    def _on_commit(connection: Any) -> None:
        raw = connection.connection.driver_connection
        if raw is not None and raw.in_transaction:
            raw.commit()
        _release_writer(connection.info, writer)

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: Any) -> None:
        raw = connection.connection.driver_connection
        if raw is not None and raw.in_transaction:
            raw.rollback()
        _release_writer(connection.info, writer)

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, _state: Any) -> None:
        # A connection returned to the pool mid-transaction is rolled back by the pool.
        if dbapi_connection.in_transaction:
            dbapi_connection.rollback()
        _release_writer(record.info, writer)


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    writer: threading.Lock | None = None,
    read_mostly: bool = False,
) -> Engine:
    """An engine configured for Carnet's two supported databases.

    On SQLite, engines of one `Database` share `writer`, the in-process queue of writers; a
    `read_mostly` engine begins without it and takes it at its first write.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=pool_size, max_overflow=20, pool_timeout=60)
        _configure_sqlite(engine, writer or threading.Lock(), read_mostly=read_mostly)
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
    _track_writes(engine)
    return engine


class Database:
    """An engine and its session factory; the one object every edge receives."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._writer = threading.Lock()
        self._pool_size = pool_size
        self.engine = make_engine(url, pool_size=pool_size, writer=self._writer)
        # Sessions know their database: per-database helpers (audit anchors) hook their commits.
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, info={DATABASE: self})
        self._lazy_lock = threading.Lock()
        self._read_engine: Engine | None = None
        self._side_engine: Engine | None = None
        # Per-database helpers owned by other layers (the audit group commit), made on first use.
        self.extensions: dict[str, Any] = {}

    def _lazy_engine(self, name: str, **options: Any) -> Engine:
        with self._lazy_lock:
            engine: Engine | None = getattr(self, name)
            if engine is None:
                engine = make_engine(self.url, writer=self._writer, **options)
                setattr(self, name, engine)
            return engine

    @contextmanager
    def read_mostly(self) -> Iterator[Session]:
        """A unit of work for a request that mostly reads (GET): it holds no write lock until it
        writes, and if all it wrote at the end are audit entries, those are committed together
        with other requests' entries (group commit), durably, before the block ends.

        On SQLite, its first write restarts the transaction with the write lock and a fresh
        snapshot: fine for a read path's incidental writes (conditional updates, audit), not for
        read-then-write logic — that belongs in `transaction()`.
        """
        engine = (
            # Every request thread may hold a reader: keep them pooled rather than reconnecting.
            self._lazy_engine(
                "_read_engine", pool_size=max(self._pool_size, READERS), read_mostly=True
            )
            if self.dialect == "sqlite"
            else self.engine
        )
        session = Session(engine, expire_on_commit=False)
        session.info[READ_MOSTLY] = True
        session.info[DATABASE] = self
        try:
            yield session
            session.commit()
        except BaseException as error:
            _end_failed(session, error)
            raise
        finally:
            session.close()

    @contextmanager
    def side_transaction(self) -> Iterator[Session]:
        """A short transaction on a connection of its own, for work done on behalf of sessions
        that are waiting for it (the audit group commit): it never waits for their pool."""
        engine = self._lazy_engine("_side_engine", pool_size=1)
        session = Session(engine, expire_on_commit=False, info={DATABASE: self})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends normally, rolled back otherwise
        (except what an error marked `errors.kept` asks to keep: see `_end_failed`)."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException as error:
            _end_failed(session, error)
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T], *, attempts: int = 3) -> T:
        """Run `work` in one transaction, again if the database chose it as a deadlock or
        serialization victim (PostgreSQL 40P01/40001, SQLite "database is locked").

        Appends to several audit chains in one transaction take row locks in the order of the
        calls, so two such transactions can deadlock; PostgreSQL aborts one, and the edge retries.
        `work` must be safe to run again (it is: everything it did was rolled back).
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction() as session:
                    return work(session)
            except OperationalError as exc:
                if attempt == attempts or not is_retryable(exc):
                    raise
                time.sleep(0.01 * attempt * (1 + random.random()))
        raise AssertionError("unreachable")

    def flush_erasures(self) -> None:
        """After a purge (LC-8): fold the write-ahead log into the database file, whose freed pages
        `secure_delete` has zeroed, so no copy of erased rows stays in the WAL. PostgreSQL reclaims
        dead rows through autovacuum."""
        if self.dialect == "sqlite":
            with self.engine.connect() as connection:
                # On the driver connection, outside any transaction (no BEGIN IMMEDIATE).
                raw = connection.connection.driver_connection
                assert raw is not None
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query succeeds."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                connection.rollback()
        except OperationalError:
            raise DatabaseUnavailable(
                f"The database at {_describe(self.url)} is not reachable."
            ) from None

    def dispose(self) -> None:
        self.engine.dispose()
        for engine in (self._read_engine, self._side_engine):
            if engine is not None:
                engine.dispose()


def _end_failed(session: Session, error: BaseException) -> None:
    """End a unit of work that `error` interrupted: roll it back, unless the error is a refusal
    marked `errors.kept`, whose bookkeeping (ACC-8: the refused access's audit entry; a throttle's
    failure count) was written to be kept; it is committed before the error answers."""
    if keeps_written(error):
        session.commit()
    else:
        session.rollback()


def session_wrote(session: Session) -> bool:
    """Whether the session's current transaction has written anything (pending changes flushed)."""
    if not session.in_transaction():
        return False
    session.flush()
    return bool(session.connection().info.get(WROTE))


def is_retryable(exc: OperationalError) -> bool:
    """A deadlock or serialization failure: retrying the whole transaction is the cure."""
    code = getattr(exc.orig, "sqlstate", None)
    if code in ("40P01", "40001"):
        return True
    return "database is locked" in str(exc.orig)


def _describe(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return f"{parsed.host}:{parsed.port or 5432}/{parsed.database}"


AfterCommit = Callable[["Database", "Settings"], None]
_AFTER_COMMIT_PENDING = "carnet.after_commit.pending"
_AFTER_COMMIT_READY = "carnet.after_commit.ready"


def after_commit(session: Session, task: AfterCommit) -> None:
    """Hand `task` to the edge once this session's transaction has committed (never if it rolls
    back). The edge runs it outside the unit of work (a request: after its response), so it must
    be safe to skip: what it does has a slower path of its own (the outbox's retries, say)."""
    session.info.setdefault(_AFTER_COMMIT_PENDING, []).append(task)


def committed_tasks(session: Session) -> list[AfterCommit]:
    """The tasks of the transactions `session` committed, each returned once (for the edge)."""
    tasks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_READY, [])
    return tasks


@event.listens_for(Session, "after_commit")
def _after_commit_ready(session: Session) -> None:
    ready = session.info.pop(_AFTER_COMMIT_PENDING, None)
    if ready:
        session.info.setdefault(_AFTER_COMMIT_READY, []).extend(ready)


@event.listens_for(Session, "after_rollback")
def _after_commit_dropped(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT_PENDING, None)
