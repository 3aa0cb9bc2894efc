"""Verifying the audit log (rule ACC-8): whoever can write to the database must not be able to
edit, delete, insert or reorder entries, or touch the signed checkpoints, without `verify` naming
the first place where the log was broken."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from carnet import clock
from carnet.audit import rules
from carnet.audit.models import AuditCheckpoint, AuditEntry
from carnet.audit.rules import GENESIS
from carnet.audit.service import seal, write_checkpoint
from carnet.audit.signing import Signer
from carnet.audit.verify import verify
from carnet.db import Database
from tests.audit.support import Log, add, tamper, without_anchors


def _verify(database: Database, signer: Signer):  # type: ignore[no-untyped-def]
    with database.transaction() as s:
        return verify(s, signer)


def _checkpoint(database: Database, signer: Signer) -> AuditCheckpoint | None:
    with database.transaction() as s:
        return write_checkpoint(s, signer)


def _entry(database: Database, chain: str, seq: int) -> AuditEntry:
    with database.transaction() as s:
        found = s.scalars(
            select(AuditEntry).where(AuditEntry.chain == chain, AuditEntry.seq == seq)
        ).one()
        s.expunge(found)
        return found


def _first_problem(database: Database, signer: Signer) -> str:
    report = _verify(database, signer)
    assert not report.intact, "tampering went unnoticed"
    return report.problems[0]


# -- intact --------------------------------------------------------------------------------------


def test_an_empty_log_is_intact(database: Database, signer: Signer) -> None:
    report = _verify(database, signer)
    assert report.intact
    assert (report.entries, report.chains, report.checkpoints) == (0, 0, 0)


def test_an_untouched_log_is_intact(database: Database, signer: Signer, log: Log) -> None:
    report = _verify(database, signer)
    assert report.intact, report.problems
    assert (report.entries, report.chains) == (10, 3)


def test_an_untouched_log_with_checkpoints_is_intact(
    database: Database, signer: Signer, log: Log
) -> None:
    first = _checkpoint(database, signer)
    assert first is not None
    assert sorted(c for c, _seq, _hash in json.loads(first.leaves)) == sorted(
        [log.chain_a, log.chain_b, "system"]
    )
    assert _checkpoint(database, signer) is None, "nothing moved since"
    with database.transaction() as s:
        add(s, log.a)
    second = _checkpoint(database, signer)
    assert second is not None
    assert json.loads(second.leaves) == [[log.chain_a, 6, _entry(database, log.chain_a, 6).hash]]
    report = _verify(database, signer)
    assert report.intact, report.problems
    assert report.checkpoints == 2


# -- edited entries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("action", "document.delete"),
        ("actor_id", "someone-else"),
        ("actor_kind", "holder"),
        ("target_id", "doc-99"),
        ("mode", "emergency"),
        ("reason", "covering tracks"),
        ("request_id", "req-forged"),
    ],
)
def test_an_edited_entry_is_named(
    database: Database, signer: Signer, log: Log, column: str, value: str
) -> None:
    assert (
        tamper(
            database,
            f"UPDATE audit_entries SET {column} = :value WHERE chain = :chain AND seq = 3",
            value=value,
            chain=log.chain_a,
        )
        == 1
    )
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_a} entry #3 " in problem
    assert "edited" in problem


def test_an_edited_hash_is_detected_at_the_next_entry(
    database: Database, signer: Signer, log: Log
) -> None:
    tamper(
        database,
        "UPDATE audit_entries SET hash = :h WHERE chain = :chain AND seq = 2",
        h="f" * 64,
        chain=log.chain_b,
    )
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_b} entry #2 " in problem


def test_an_edit_with_the_hash_recomputed_breaks_the_next_link(
    database: Database, signer: Signer, log: Log
) -> None:
    """An attacker who knows the formula fixes the edited entry's hash: the next entry still
    points to the old hash."""
    entry = _entry(database, log.chain_a, 2)
    entry.action = "login"
    seal(entry)
    tamper(
        database,
        "UPDATE audit_entries SET action = 'login', content_hash = :c, hash = :h "
        "WHERE chain = :chain AND seq = 2",
        c=entry.content_hash,
        h=entry.hash,
        chain=log.chain_a,
    )
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_a} entry #3 " in problem


# -- deleted entries -----------------------------------------------------------------------------


def test_a_deleted_middle_entry_is_named_by_the_entry_after_it(
    database: Database, signer: Signer, log: Log
) -> None:
    assert (
        tamper(
            database,
            "DELETE FROM audit_entries WHERE chain = :chain AND seq = 3",
            chain=log.chain_a,
        )
        == 1
    )
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_a} entry #4 " in problem
    assert "expected #3" in problem


def test_a_deleted_first_entry_is_detected(database: Database, signer: Signer, log: Log) -> None:
    tamper(database, "DELETE FROM audit_entries WHERE chain = 'system' AND seq = 1")
    problem = _first_problem(database, signer)
    assert "chain system entry #2 " in problem


def test_a_deleted_last_entry_is_detected_by_the_chain_head(
    database: Database, signer: Signer, log: Log
) -> None:
    tamper(
        database, "DELETE FROM audit_entries WHERE chain = :chain AND seq = 5", chain=log.chain_a
    )
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_a}" in problem
    assert "#4" in problem and "#5" in problem


def test_a_deleted_whole_chain_is_detected_by_its_head(
    database: Database, signer: Signer, log: Log
) -> None:
    tamper(database, "DELETE FROM audit_entries WHERE chain = :chain", chain=log.chain_b)
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_b}" in problem


def _truncate_and_fix_head(database: Database, log: Log) -> None:
    """Delete entry #5 of A and make the head point at #4, as a careful attacker would."""
    fourth = _entry(database, log.chain_a, 4)
    tamper(
        database, "DELETE FROM audit_entries WHERE chain = :chain AND seq = 5", chain=log.chain_a
    )
    tamper(
        database,
        "UPDATE audit_chain_heads SET seq = 4, hash = :h WHERE chain = :chain",
        h=fourth.hash,
        chain=log.chain_a,
    )


def test_a_truncated_tail_with_a_fixed_head_is_caught_without_a_checkpoint(
    database: Database, signer: Signer, log: Log
) -> None:
    """ACC-8: hash chains alone let the never-checkpointed end be cut off; the heads anchored
    outside the database on every commit close that window (tests/audit/test_anchors.py)."""
    _truncate_and_fix_head(database, log)
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_a}" in problem
    assert "truncated" in problem


def test_a_truncated_tail_with_a_fixed_head_is_caught_by_a_checkpoint(
    database: Database, signer: Signer, log: Log
) -> None:
    """ACC-8, defence in depth: even with the anchor store lost, the signed checkpoint names it."""
    assert _checkpoint(database, signer) is not None
    without_anchors(database)
    _truncate_and_fix_head(database, log)
    problem = _first_problem(database, signer)
    assert "checkpoint #" in problem
    assert f"chain {log.chain_a} entry #5 " in problem


def test_a_rewritten_tail_with_a_fixed_head_is_caught_by_a_checkpoint(
    database: Database, signer: Signer, log: Log
) -> None:
    """Even an attacker who recomputes every hash after an edit cannot match the signed root
    (the anchor store left aside, as if lost)."""
    assert _checkpoint(database, signer) is not None
    without_anchors(database)
    entry = _entry(database, log.chain_b, 3)
    entry.actor_id = "nobody"
    seal(entry)
    forged = entry.hash
    tamper(
        database,
        "UPDATE audit_entries SET actor_id = 'nobody', content_hash = :c, hash = :h "
        "WHERE chain = :chain AND seq = 3",
        c=entry.content_hash,
        h=forged,
        chain=log.chain_b,
    )
    tamper(
        database,
        "UPDATE audit_chain_heads SET hash = :h WHERE chain = :chain",
        h=forged,
        chain=log.chain_b,
    )
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_b} entry #3 " in problem
    assert "checkpoint #" in problem


# -- reordered entries ---------------------------------------------------------------------------


def test_swapping_two_entries_is_detected(database: Database, signer: Signer, log: Log) -> None:
    for old, new in ((2, -1), (3, 2), (-1, 3)):
        tamper(
            database,
            "UPDATE audit_entries SET seq = :new WHERE chain = :chain AND seq = :old",
            old=old,
            new=new,
            chain=log.chain_a,
        )
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_a} entry #2 " in problem


def test_moving_an_entry_to_another_chain_is_detected(
    database: Database, signer: Signer, log: Log
) -> None:
    tamper(
        database,
        "UPDATE audit_entries SET chain = :other, seq = 4 WHERE chain = :chain AND seq = 5",
        other=log.chain_b,
        chain=log.chain_a,
    )
    assert not _verify(database, signer).intact


# -- inserted entries ----------------------------------------------------------------------------


def _forge(
    database: Database, chain: str, seq: int, prev_hash: str, holder: uuid.UUID | None
) -> None:
    """Insert a well-formed entry whose hash is right for its own fields and claimed predecessor,
    bypassing `append` (no chain head update), as an attacker with database access could."""
    entry = AuditEntry(
        id=uuid.uuid4(),
        chain=chain,
        seq=seq,
        at=clock.now(),
        actor_kind="professional",
        actor_id=str(uuid.uuid4()),
        action="document.read",
        holder_id=holder,
        mode="normal",
        prev_hash=prev_hash,
        hash="",
    )
    seal(entry)
    with database.transaction() as s:
        s.add(entry)


def test_an_entry_appended_outside_the_log_is_detected(
    database: Database, signer: Signer, log: Log
) -> None:
    _forge(database, log.chain_a, 6, _entry(database, log.chain_a, 5).hash, log.a)
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_a}" in problem
    assert "#6" in problem


def test_an_entry_inserted_in_the_middle_is_detected(
    database: Database, signer: Signer, log: Log
) -> None:
    """Make room at #3 by renumbering #3..#5, then insert a forged #3 following #2."""
    for seq in (5, 4, 3):
        tamper(
            database,
            "UPDATE audit_entries SET seq = :new WHERE chain = :chain AND seq = :old",
            old=seq,
            new=seq + 1,
            chain=log.chain_a,
        )
    tamper(database, "UPDATE audit_chain_heads SET seq = 6 WHERE chain = :chain", chain=log.chain_a)
    _forge(database, log.chain_a, 3, _entry(database, log.chain_a, 2).hash, log.a)
    problem = _first_problem(database, signer)
    assert f"chain {log.chain_a} entry #4 " in problem


def test_a_forged_chain_without_a_head_is_detected(
    database: Database, signer: Signer, log: Log
) -> None:
    stranger = uuid.uuid4()
    _forge(database, rules.chain_for(stranger), 1, GENESIS, stranger)
    problem = _first_problem(database, signer)
    assert f"chain {rules.chain_for(stranger)}" in problem
    assert "no chain head" in problem


# -- checkpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE audit_checkpoints SET root = :fake", "bad signature"),
        ("UPDATE audit_checkpoints SET signature = :fake_signature", "bad signature"),
        ("UPDATE audit_checkpoints SET prev_hash = :other_prev", "does not follow"),
        ("UPDATE audit_checkpoints SET leaves = :leaves", "altered"),
    ],
    ids=["root", "signature", "prev-hash", "leaves"],
)
def test_a_tampered_checkpoint_is_named(
    database: Database, signer: Signer, log: Log, sql: str, expected: str
) -> None:
    checkpoint = _checkpoint(database, signer)
    assert checkpoint is not None
    leaves = json.loads(checkpoint.leaves)
    # Drop a chain from what the checkpoint vouches for (e.g. to hide a later truncation).
    params = {
        "fake": "0" * 64,
        "other_prev": "1" * 64,
        "fake_signature": ("0" if checkpoint.signature[0] != "0" else "1")
        + checkpoint.signature[1:],
        "leaves": json.dumps(leaves[1:], separators=(",", ":")),
    }
    assert tamper(database, sql, **params) == 1
    problem = _first_problem(database, signer)
    assert f"checkpoint #{checkpoint.id}" in problem
    assert expected in problem


def test_a_checkpoint_signed_by_another_key_is_refused(
    database: Database, signer: Signer, log: Log
) -> None:
    _checkpoint(database, Signer(Ed25519PrivateKey.generate()))
    problem = _first_problem(database, signer)
    assert "unknown key" in problem


def test_a_deleted_checkpoint_is_detected(database: Database, signer: Signer, log: Log) -> None:
    ids = []
    for _ in range(3):
        with database.transaction() as s:
            add(s, log.a)
        checkpoint = _checkpoint(database, signer)
        assert checkpoint is not None
        ids.append(checkpoint.id)
    assert tamper(database, "DELETE FROM audit_checkpoints WHERE id = :id", id=ids[1]) == 1
    problem = _first_problem(database, signer)
    assert f"checkpoint #{ids[2]}" in problem
    assert "removed" in problem


def test_a_deleted_first_checkpoint_is_detected(
    database: Database, signer: Signer, log: Log
) -> None:
    first = _checkpoint(database, signer)
    with database.transaction() as s:
        add(s, None)
    second = _checkpoint(database, signer)
    assert first is not None and second is not None
    tamper(database, "DELETE FROM audit_checkpoints WHERE id = :id", id=first.id)
    problem = _first_problem(database, signer)
    assert f"checkpoint #{second.id}" in problem


def test_all_problems_can_be_listed(database: Database, signer: Signer, log: Log) -> None:
    tamper(
        database,
        "UPDATE audit_entries SET action = 'x' WHERE chain = :c AND seq = 1",
        c=log.chain_a,
    )
    tamper(
        database,
        "UPDATE audit_entries SET action = 'x' WHERE chain = :c AND seq = 1",
        c=log.chain_b,
    )
    with database.transaction() as s:
        report = verify(s, signer, stop_at_first=False)
    assert len(report.problems) >= 2
    assert any(log.chain_a in p for p in report.problems)
    assert any(log.chain_b in p for p in report.problems)


def test_acc8_deleting_the_latest_checkpoint_is_detected(session, signer) -> None:  # type: ignore[no-untyped-def]
    """The newest checkpoint has no successor, but the chain heads remember it."""
    from sqlalchemy import text

    from carnet.audit.service import append, write_checkpoint
    from carnet.audit.verify import verify

    for n in range(3):
        append(session, actor_kind="system", actor_id="t", action=f"a{n}", holder_id=None)
    write_checkpoint(session, signer)
    session.commit()
    assert verify(session, signer).intact
    session.execute(text("DELETE FROM audit_checkpoints"))
    session.commit()
    report = verify(session, signer)
    assert not report.intact
    assert "checkpoint covering entry #3 is missing" in report.problems[0]
