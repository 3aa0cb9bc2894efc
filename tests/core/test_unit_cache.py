"""The unit of work's cache (`db.unit_cached`, issue 13): a fact read once per transaction, never
kept beyond it, never stale after a write to what it was read from (ACC-1…ACC-6 decide on facts
resolved this way; LC-8: a destroyed data key is not found again)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from carnet.accounts.models import Holder
from carnet.db import Database, unit_cached
from carnet.errors import VaultError
from carnet.vault.service import Vault
from tests.factories import make_holder


def test_a_value_is_read_once_per_transaction_and_dropped_at_its_end(database: Database) -> None:
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        return len(calls)

    with database.transaction() as session:
        assert unit_cached(session, "k", frozenset({"holders"}), read) == 1
        assert unit_cached(session, "k", frozenset({"holders"}), read) == 1
        assert unit_cached(session, "other", frozenset({"holders"}), read) == 2
    with database.transaction() as session:  # a new transaction reads again
        assert unit_cached(session, "k", frozenset({"holders"}), read) == 3
        session.rollback()
        assert unit_cached(session, "k", frozenset({"holders"}), read) == 4


def test_a_write_to_a_table_read_drops_the_value_whatever_issues_it(database: Database) -> None:
    with database.transaction() as session:
        holder_id = make_holder(session).id
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        return len(calls)

    with database.transaction() as session:
        unit_cached(session, "holder", frozenset({"holders"}), read)
        unit_cached(session, "settings", frozenset({"timeline_settings"}), read)
        session.execute(update(Holder).where(Holder.id == holder_id).values(state="suspended"))
        assert unit_cached(session, "holder", frozenset({"holders"}), read) == 3  # read again
        assert unit_cached(session, "settings", frozenset({"timeline_settings"}), read) == 2
        session.connection().exec_driver_sql("DELETE FROM timeline_settings")  # raw SQL too
        assert unit_cached(session, "settings", frozenset({"timeline_settings"}), read) == 4


def test_a_savepoint_rolled_back_drops_what_was_read(database: Database) -> None:
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        return len(calls)

    with database.transaction() as session:
        nested = session.begin_nested()
        unit_cached(session, "k", frozenset({"holders"}), read)
        nested.rollback()
        assert unit_cached(session, "k", frozenset({"holders"}), read) == 2


def test_a_destroyed_data_key_is_not_served_from_the_cache(
    database: Database, vault: Vault
) -> None:
    """LC-8: crypto-shredding within the unit of work that used the key."""
    with database.transaction() as session:
        holder = make_holder(session)
        sealed = vault.seal_text(session, holder.id, holder.id, "test", "secret")
        assert vault.unseal_text(session, holder.id, holder.id, "test", sealed) == "secret"
        vault.destroy_keys(session, holder.id)
        with pytest.raises(VaultError):
            vault.unseal_text(session, holder.id, holder.id, "test", sealed)
