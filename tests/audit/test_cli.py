"""`carnet audit verify` and `carnet audit checkpoint` (rule ACC-8): exit statuses an operator or a
monitoring job can rely on, and the first bad entry named on stderr."""

from __future__ import annotations

import json
import shutil

from sqlalchemy import func, select

from carnet.audit.models import AuditChainHead, AuditCheckpoint
from carnet.config import Settings
from carnet.db import Database
from tests.audit.support import Log, tamper


def _flat(text: str) -> str:
    """Rich wraps long lines; compare on words."""
    return " ".join(text.split())


def test_verify_exits_0_on_an_intact_log(run_cli, log: Log) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli("audit", "verify")
    assert status == 0, err
    assert "intact" in out
    assert "10 entries in 3 chain(s)" in _flat(out)


def test_verify_exits_1_naming_the_first_bad_entry(run_cli, database: Database, log: Log) -> None:  # type: ignore[no-untyped-def]
    tamper(
        database,
        "UPDATE audit_entries SET actor_id = 'intruder' WHERE chain = :chain AND seq = 4",
        chain=log.chain_a,
    )
    status, out, err = run_cli("audit", "verify")
    assert status == 1
    assert "#4" in err
    assert log.chain_a in _flat(err)
    assert "intact" not in out
    assert "Traceback" not in out + err


def test_checkpoint_signs_the_moved_heads_then_has_nothing_new(  # type: ignore[no-untyped-def]
    run_cli, database: Database, log: Log
) -> None:
    status, out, err = run_cli("audit", "checkpoint")
    assert status == 0, err
    assert "Checkpoint #" in out
    assert "3 chain head(s)" in _flat(out)
    with database.transaction() as s:
        checkpoints = s.scalars(select(AuditCheckpoint)).all()
        assert len(checkpoints) == 1
        assert len(json.loads(checkpoints[0].leaves)) == 3
        lagging = s.scalar(
            select(func.count())
            .select_from(AuditChainHead)
            .where(AuditChainHead.checkpointed_seq != AuditChainHead.seq)
        )
        assert lagging == 0

    status, out, _ = run_cli("audit", "checkpoint")
    assert status == 0
    assert "Nothing new" in out

    status, out, err = run_cli("audit", "verify")
    assert status == 0, err
    assert "1 signed checkpoint(s)" in _flat(out)


def test_verify_catches_a_truncation_at_once(  # type: ignore[no-untyped-def]
    run_cli, database: Database, log: Log
) -> None:
    """ACC-8: no checkpoint ran, the head row was rewound: the anchor store names it."""
    tamper(
        database, "DELETE FROM audit_entries WHERE chain = :chain AND seq = 5", chain=log.chain_a
    )
    tamper(
        database,
        "UPDATE audit_chain_heads SET seq = 4, hash = "
        "(SELECT hash FROM audit_entries WHERE chain = :chain AND seq = 4) WHERE chain = :chain",
        chain=log.chain_a,
    )
    status, _out, err = run_cli("audit", "verify")
    assert status == 1
    assert "truncated" in err
    assert log.chain_a in _flat(err)
    assert "#5" in err


def test_verify_catches_a_truncation_behind_a_checkpoint_without_anchors(  # type: ignore[no-untyped-def]
    run_cli, database: Database, settings: Settings, log: Log
) -> None:
    """Defence in depth: with the anchor store lost, the signed checkpoint still names it."""
    assert run_cli("audit", "checkpoint")[0] == 0
    shutil.rmtree(settings.effective_audit_anchor_dir)
    tamper(
        database, "DELETE FROM audit_entries WHERE chain = :chain AND seq = 5", chain=log.chain_a
    )
    tamper(
        database,
        "UPDATE audit_chain_heads SET seq = 4, hash = "
        "(SELECT hash FROM audit_entries WHERE chain = :chain AND seq = 4) WHERE chain = :chain",
        chain=log.chain_a,
    )
    status, _out, err = run_cli("audit", "verify")
    assert status == 1
    assert "checkpoint #1" in _flat(err)
    assert "#5" in err
