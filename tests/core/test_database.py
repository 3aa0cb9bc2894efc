"""The database layer: migrations run twice safely, SQLite pragmas, unreachable databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from carnet.db import Database
from carnet.migrate import current_revision, head_revision, upgrade
from tests.conftest import ON_POSTGRES


def test_migrate_twice_changes_nothing(database: Database, run_cli) -> None:  # type: ignore[no-untyped-def]
    assert current_revision(database) == head_revision(database)
    status, out, _ = run_cli("migrate")
    assert status == 0
    assert "nothing to do" in out
    assert upgrade(database)[0] == upgrade(database)[1]


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite pragmas")
def test_sqlite_runs_in_wal_with_foreign_keys_and_secure_delete(database: Database) -> None:
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1


def test_unreachable_database_is_one_clear_error(run_cli, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CARNET_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    status, out, err = run_cli("migrate")
    assert status == 2
    assert "not reachable" in err
    assert "Traceback" not in out + err


def test_migrations_match_the_models(database: Database) -> None:
    """Every model change comes with its migration (one chain for both engines)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from carnet.db import Base

    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL deadlock detection")
def test_deadlock_victims_are_run_again(database: Database) -> None:
    """Two transactions appending to two spaces in opposite orders: PostgreSQL aborts one, and
    `Database.run` runs it again, so both land and the chains stay gapless (ACC-8)."""
    import threading
    import uuid

    from sqlalchemy.orm import Session

    from carnet.audit.service import append

    first, second = uuid.uuid4(), uuid.uuid4()
    for holder in (first, second):
        database.run(lambda s, h=holder: append(s, actor_kind="system", actor_id="t", action="seed", holder_id=h))
    barrier = threading.Barrier(2)
    attempts: list[int] = []

    def crossing(order: tuple[uuid.UUID, uuid.UUID]) -> None:
        def work(session: Session) -> None:
            attempts.append(1)
            append(session, actor_kind="system", actor_id="t", action="a", holder_id=order[0])
            if len(attempts) <= 2:
                barrier.wait(timeout=10)
            append(session, actor_kind="system", actor_id="t", action="b", holder_id=order[1])

        database.run(work, attempts=5)

    threads = [threading.Thread(target=crossing, args=(o,)) for o in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(attempts) == 3  # one transaction was chosen as the victim and ran again
    with database.transaction() as session:
        from sqlalchemy import func, select

        from carnet.audit.models import AuditEntry

        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 6
