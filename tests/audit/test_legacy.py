"""Entries written before content hashes (scheme 1) keep verifying (rules ACC-8, LC-8; issue 12
item 6): the upgrade rewrites no hash — the signed checkpoints cover them — and old entries verify
the old way, new ones chain onto them, and a purge still leaves a green, content-free chain."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlalchemy import text

from carnet import clock
from carnet.accounts import lifecycle, rules
from carnet.accounts import purge as purge_service
from carnet.audit import anchors
from carnet.audit import rules as audit_rules
from carnet.audit.rules import GENESIS
from carnet.audit.service import write_checkpoint
from carnet.audit.signing import Signer
from carnet.audit.verify import VerifyReport, verify
from carnet.config import Settings
from carnet.db import Database, UTCDateTime
from carnet.migrate import alembic_config, upgrade
from carnet.vault.service import Vault
from tests.audit.support import add, tamper
from tests.factories import make_holder

# The audit tables as revision 0009 knew them (no salt, no content hash, no redacted flag).
_OLD_ENTRIES = sa.table(
    "audit_entries",
    sa.column("id", sa.Uuid()), sa.column("chain"), sa.column("seq"),
    sa.column("at", UTCDateTime()), sa.column("actor_kind"), sa.column("actor_id"),
    sa.column("action"), sa.column("target_type"), sa.column("target_id"),
    sa.column("holder_id", sa.Uuid()), sa.column("mode"), sa.column("reason"),
    sa.column("detail"), sa.column("request_id"), sa.column("prev_hash"), sa.column("hash"),
)  # fmt: skip
_OLD_HEADS = sa.table(
    "audit_chain_heads",
    sa.column("chain"), sa.column("seq"), sa.column("hash"), sa.column("checkpointed_seq"),
)  # fmt: skip


def _verify(database: Database, signer: Signer) -> VerifyReport:
    with database.transaction() as s:
        return verify(s, signer)


def _write_old_chain(database: Database, holder_id: uuid.UUID, count: int) -> str:
    """What Carnet wrote before content hashes: every field hashed at once, no anchor."""
    chain = audit_rules.chain_for(holder_id)
    prev = GENESIS
    with database.engine.begin() as connection:
        for seq in range(1, count + 1):
            at = clock.now() - dt.timedelta(days=1, seconds=-seq)
            row = {
                "id": uuid.uuid4(), "chain": chain, "seq": seq, "at": at,
                "actor_kind": "professional", "actor_id": f"pro-{seq}", "action": "document.read",
                "target_type": "DocumentReference", "target_id": f"doc-{seq}",
                "holder_id": holder_id, "mode": "normal", "reason": None, "detail": None,
                "request_id": None,
            }  # fmt: skip
            fields = dict(row, id=str(row["id"]), holder_id=str(holder_id),
                          at=at.isoformat(timespec="microseconds"))  # fmt: skip
            digest = audit_rules.legacy_entry_hash(prev, fields)
            connection.execute(sa.insert(_OLD_ENTRIES).values(prev_hash=prev, hash=digest, **row))
            prev = digest
        connection.execute(
            sa.insert(_OLD_HEADS).values(chain=chain, seq=count, hash=prev, checkpointed_seq=0)
        )
    return chain


def test_acc8_an_old_chain_verifies_and_new_entries_chain_onto_it(
    database: Database, signer: Signer
) -> None:
    holder = uuid.uuid4()
    chain = _write_old_chain(database, holder, 3)
    report = _verify(database, signer)
    assert report.intact, report.problems
    assert any("not anchored yet" in n for n in report.notes)  # older than the anchor store
    with database.transaction() as s:
        add(s, holder)
        assert write_checkpoint(s, signer) is not None  # anchors what it signs
    report = _verify(database, signer)
    assert report.intact, report.problems
    assert report.notes == [] and report.entries == 4
    tamper(database, "DELETE FROM audit_entries WHERE chain = :c AND seq = 4", c=chain)
    tamper(database, "UPDATE audit_chain_heads SET seq = 3, hash = (SELECT hash FROM "
           "audit_entries WHERE chain = :c AND seq = 3) WHERE chain = :c", c=chain)  # fmt: skip
    assert "truncated" in _verify(database, signer).problems[0]


def test_acc8_an_edited_old_entry_is_still_caught(database: Database, signer: Signer) -> None:
    chain = _write_old_chain(database, uuid.uuid4(), 3)
    tamper(
        database, "UPDATE audit_entries SET actor_id = 'x' WHERE chain = :c AND seq = 2", c=chain
    )
    problem = _verify(database, signer).problems[0]
    assert f"chain {chain} entry #2 " in problem and "edited" in problem


def test_lc8_purging_a_space_with_an_old_chain_leaves_it_green_and_content_free(
    database: Database, signer: Signer, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as s:
        holder_id = make_holder(s, state=rules.PURGE_PENDING).id
    chain = _write_old_chain(database, holder_id, 3)
    with database.transaction() as s:
        purge_service.purge(s, vault, settings, lifecycle.get_holder(s, holder_id))
    with database.transaction() as s:
        rows = s.execute(
            text("SELECT actor_id, action, target_id, holder_id FROM audit_entries "
                 "WHERE chain = :c"), {"c": chain},
        ).all()  # fmt: skip
    assert len(rows) == 4 and all(tuple(r) == (None, None, None, None) for r in rows)
    report = _verify(database, signer)
    assert report.intact, report.problems


def test_acc8_a_database_migrated_from_before_content_hashes_verifies(
    tmp_path: Path, settings: Settings, signer: Signer
) -> None:
    """Built at revision 0009 with old entries and a signed checkpoint, then upgraded."""
    database = Database(f"sqlite:///{tmp_path / 'old.db'}", pool_size=1)
    try:
        config = alembic_config(database)
        with database.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0009")
            connection.commit()
        chain = _write_old_chain(database, uuid.uuid4(), 4)
        upgrade(database)
        anchors.install(database, Settings(data_dir=tmp_path / "var2"))
        with database.transaction() as s:
            assert write_checkpoint(s, signer) is not None
        with database.transaction() as s:
            add(s, uuid.UUID(chain.removeprefix("space:")))
        report = _verify(database, signer)
        assert report.intact, report.problems
        assert (report.entries, report.anchored) == (5, 1)
    finally:
        database.dispose()
