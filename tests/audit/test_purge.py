"""A purged space's audit chain keeps only what verification needs (rules LC-8, ACC-8; issue 12
item 6): place, time and hashes — no professional, action, document, mode or reason — and
`verify` stays green. Redaction is allowed only for purged spaces and never launders tampering."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from carnet.accounts import lifecycle, rules
from carnet.accounts import purge as purge_service
from carnet.audit import anchors
from carnet.audit import rules as audit_rules
from carnet.audit.models import AuditEntry
from carnet.audit.signing import Signer
from carnet.audit.verify import VerifyReport, verify
from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.audit.support import add, tamper
from tests.factories import make_holder

# What a purged space's entry may keep: where it sits, when, and its hashes.
KEPT = {"id", "chain", "seq", "at", "prev_hash", "hash", "content_hash"}


def _verify(database: Database, signer: Signer) -> VerifyReport:
    with database.transaction() as s:
        return verify(s, signer)


def _space_with_history(database: Database) -> tuple[uuid.UUID, str]:
    """A closed space whose chain names professionals, documents, an emergency and its reason."""
    pro = str(uuid.uuid4())
    with database.transaction() as s:
        holder = make_holder(s, state=rules.PURGE_PENDING)
        add(s, holder.id, "document.read", actor_id=pro, target_type="DocumentReference",
            target_id="doc-secret", request_id="req-1")  # fmt: skip
        add(s, holder.id, "emergency.access", actor_id=pro, mode="emergency",
            reason="unconscious", detail=b"\x01sealed-reason")  # fmt: skip
        return holder.id, pro


def _purge(database: Database, vault: Vault, settings: Settings, holder_id: uuid.UUID) -> None:
    with database.transaction() as s:
        purge_service.purge(s, vault, settings, lifecycle.get_holder(s, holder_id))


def _rows(database: Database, chain: str) -> list[dict[str, object]]:
    with database.transaction() as s:
        result = s.execute(
            text("SELECT * FROM audit_entries WHERE chain = :c ORDER BY seq"), {"c": chain}
        )
        return [dict(row._mapping) for row in result]


def test_lc8_a_purged_space_chain_keeps_only_hashes_places_and_times(
    database: Database, signer: Signer, vault: Vault, settings: Settings
) -> None:
    holder_id, pro = _space_with_history(database)
    chain = audit_rules.chain_for(holder_id)
    _purge(database, vault, settings, holder_id)
    rows = _rows(database, chain)
    assert len(rows) >= 3  # the two actions and the purge itself
    for row in rows:
        assert {name for name, value in row.items() if value is not None} == KEPT, row
    blob = repr(rows)
    for secret in (pro, "doc-secret", "unconscious", "emergency", "req-1", "document.read"):
        assert secret not in blob
    report = _verify(database, signer)
    assert report.intact, report.problems
    assert report.notes == []


def test_lc8_other_spaces_keep_their_entries_and_history(
    database: Database, signer: Signer, vault: Vault, settings: Settings
) -> None:
    holder_id, _pro = _space_with_history(database)
    other, other_pro = _space_with_history(database)
    _purge(database, vault, settings, holder_id)
    rows = _rows(database, audit_rules.chain_for(other))
    assert [r["actor_id"] for r in rows] == [other_pro, other_pro]
    assert rows[0]["target_id"] == "doc-secret"
    assert _verify(database, signer).intact


def test_lc8_a_read_in_flight_after_the_purge_is_stored_without_content(
    database: Database, signer: Signer, vault: Vault, settings: Settings
) -> None:
    holder_id, pro = _space_with_history(database)
    _purge(database, vault, settings, holder_id)
    with database.read_mostly() as s:
        add(s, holder_id, actor_id=pro)  # a group-committed read that was already on its way
    rows = _rows(database, audit_rules.chain_for(holder_id))
    assert {n for n, v in rows[-1].items() if v is not None} == KEPT
    assert _verify(database, signer).intact


def test_acc8_removing_content_of_a_live_space_is_caught(
    database: Database, signer: Signer
) -> None:
    """Someone with database access "redacts" what a professional did in a space still alive."""
    holder_id, _pro = _space_with_history(database)
    chain = audit_rules.chain_for(holder_id)
    tamper(
        database,
        "UPDATE audit_entries SET actor_kind = NULL, actor_id = NULL, action = NULL, "
        "target_type = NULL, target_id = NULL, holder_id = NULL, mode = NULL, salt = NULL "
        "WHERE chain = :c AND seq = 1",
        c=chain,
    )
    problem = _verify(database, signer).problems[0]
    assert f"chain {chain} entry #1 " in problem
    assert "never purged" in problem


def test_acc8_a_purge_keeps_a_tampered_entry_as_evidence(
    database: Database, signer: Signer, vault: Vault, settings: Settings
) -> None:
    holder_id, _pro = _space_with_history(database)
    chain = audit_rules.chain_for(holder_id)
    tamper(
        database,
        "UPDATE audit_entries SET target_id = 'doc-other' WHERE chain = :c AND seq = 1",
        c=chain,
    )
    _purge(database, vault, settings, holder_id)
    assert _rows(database, chain)[0]["target_id"] == "doc-other"
    problem = _verify(database, signer).problems[0]
    assert f"chain {chain} entry #1 " in problem and "edited" in problem


def test_lc8_a_rolled_back_purge_redacts_nothing(
    database: Database, signer: Signer, vault: Vault, settings: Settings
) -> None:
    holder_id, pro = _space_with_history(database)
    try:
        with database.transaction() as s:
            purge_service.purge(s, vault, settings, lifecycle.get_holder(s, holder_id))
            raise RuntimeError("the purge failed")
    except RuntimeError:
        pass
    rows = _rows(database, audit_rules.chain_for(holder_id))
    assert [r["actor_id"] for r in rows] == [pro, pro]
    assert _verify(database, signer).intact


def test_acc8_equal_contents_have_different_content_hashes(database: Database) -> None:
    """Salted: a redacted entry's content hash cannot be matched against guessed contents."""
    holder = uuid.uuid4()
    with database.transaction() as s:
        first = add(s, holder, actor_id="same")
        second = add(s, holder, actor_id="same")
        assert first.content_hash != second.content_hash
        assert s.scalars(select(AuditEntry.salt).where(AuditEntry.holder_id == holder)).all()


def test_lc8_a_purge_is_permitted_in_the_anchor_store_before_it_commits(
    database: Database, vault: Vault, settings: Settings
) -> None:
    holder_id, _pro = _space_with_history(database)
    _purge(database, vault, settings, holder_id)
    store = anchors.store_of(database)
    assert store is not None
    assert audit_rules.chain_for(holder_id) in store.read().purged
