"""Envelope encryption per holder (rule LC-8): ciphertexts are bound to their holder, record and
purpose; blobs reach the disk only encrypted; destroying a holder's data key shreds all of it."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import Holder
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import VaultError
from carnet.vault import crypto
from carnet.vault.models import DataKey
from carnet.vault.service import Vault
from tests.factories import make_holder

MARKER = b"CARNET-PLAINTEXT-MARKER-7f3a9c"


def _chunks(data: bytes, size: int = 10_000) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _blob_bytes(settings: Settings) -> bytes:
    root = settings.effective_blob_dir
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


# -- sealed fields -------------------------------------------------------------------------------


def test_a_sealed_field_opens_for_its_holder_record_and_purpose(
    session: Session, vault: Vault
) -> None:
    holder = make_holder(session)
    record = uuid.uuid4()
    sealed = vault.seal_text(session, holder.id, record, "note", "tension 14/9")
    assert b"tension" not in sealed
    assert vault.unseal_text(session, holder.id, record, "note", sealed) == "tension 14/9"


def test_a_sealed_field_moved_to_another_record_or_purpose_does_not_open(
    session: Session, vault: Vault
) -> None:
    holder = make_holder(session)
    record, other = uuid.uuid4(), uuid.uuid4()
    sealed = vault.seal(session, holder.id, record, "note", b"diabetes type 2")
    with pytest.raises(VaultError):
        vault.unseal(session, holder.id, other, "note", sealed)
    with pytest.raises(VaultError):
        vault.unseal(session, holder.id, record, "title", sealed)


def test_a_sealed_field_moved_to_another_holder_does_not_open(
    session: Session, vault: Vault
) -> None:
    a, b = make_holder(session), make_holder(session)
    record = uuid.uuid4()
    vault.data_key(session, b.id)
    sealed = vault.seal(session, a.id, record, "note", b"hiv positive")
    with pytest.raises(VaultError):
        vault.unseal(session, b.id, record, "note", sealed)


def test_one_data_key_per_holder_created_on_first_use_and_stored_wrapped(
    session: Session, vault: Vault
) -> None:
    a, b = make_holder(session), make_holder(session)
    key_id, key = vault.data_key(session, a.id)
    assert vault.data_key(session, a.id) == (key_id, key)
    assert vault.data_key(session, b.id)[1] != key
    rows = session.scalars(select(DataKey).order_by(DataKey.holder_id)).all()
    assert len(rows) == 2
    row = session.get(DataKey, key_id)
    assert row is not None
    assert row.holder_id == a.id
    assert row.master_key_id == vault.keyring.current
    assert key not in row.wrapped


# -- blobs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 65_536, 200_000])
def test_a_stored_blob_reads_back_with_its_hashes_and_size(
    session: Session, vault: Vault, size: int
) -> None:
    holder = make_holder(session)
    record = uuid.uuid4()
    data = (MARKER * (size // len(MARKER) + 1))[:size]
    stored = vault.put_blob(session, holder.id, record, "document", iter(_chunks(data)))
    assert stored.size == size
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.sha1 == hashlib.sha1(data).hexdigest()  # noqa: S324 - FHIR R4 Attachment.hash
    segments = max(1, -(-size // crypto.SEGMENT_BYTES))
    assert stored.stored_size == crypto.BLOB_HEADER_BYTES + size + segments * crypto.TAG_BYTES
    read = vault.read_blob_bytes(
        session, holder.id, record, "document", stored.blob_id, expected_sha256=stored.sha256
    )
    assert read == data


def test_a_blob_with_another_expected_hash_is_refused(session: Session, vault: Vault) -> None:
    holder = make_holder(session)
    record = uuid.uuid4()
    stored = vault.put_blob(session, holder.id, record, "document", [b"scan of the x-ray"])
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(VaultError, match="hash"):
        vault.read_blob_bytes(session, holder.id, record, "document", stored.blob_id, wrong)


def test_a_blob_read_for_another_record_holder_or_purpose_is_refused(
    session: Session, vault: Vault
) -> None:
    a, b = make_holder(session), make_holder(session)
    record = uuid.uuid4()
    vault.data_key(session, b.id)
    stored = vault.put_blob(session, a.id, record, "document", [b"letter"])
    with pytest.raises(VaultError):
        vault.read_blob_bytes(session, a.id, uuid.uuid4(), "document", stored.blob_id)
    with pytest.raises(VaultError):
        vault.read_blob_bytes(session, a.id, record, "thumbnail", stored.blob_id)
    with pytest.raises(VaultError):
        vault.read_blob_bytes(session, b.id, record, "document", stored.blob_id)


def test_a_blob_edited_on_disk_is_refused(
    session: Session, vault: Vault, settings: Settings
) -> None:
    holder = make_holder(session)
    record = uuid.uuid4()
    stored = vault.put_blob(session, holder.id, record, "document", [b"x" * 1000])
    path = next(p for p in settings.effective_blob_dir.rglob(stored.blob_id))
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(VaultError):
        vault.read_blob_bytes(session, holder.id, record, "document", stored.blob_id)


# -- crypto-shredding (LC-8) ---------------------------------------------------------------------


def _store_for(
    database: Database, vault: Vault, holder_id: uuid.UUID, record: uuid.UUID
) -> tuple[bytes, str]:
    with database.transaction() as s:
        sealed = vault.seal(s, holder_id, record, "note", MARKER + b" field")
        blob = vault.put_blob(s, holder_id, record, "document", [MARKER, b" blob " * 5000])
    return sealed, blob.blob_id


def test_destroying_a_holders_keys_shreds_their_fields_and_blobs_only(
    database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-8: after the key is gone A's ciphertext is still on disk but opens nowhere; B is intact."""
    with database.transaction() as s:
        a, b = make_holder(s).id, make_holder(s).id
    record_a, record_b = uuid.uuid4(), uuid.uuid4()
    sealed_a, blob_a = _store_for(database, vault, a, record_a)
    sealed_b, blob_b = _store_for(database, vault, b, record_b)

    with database.transaction() as s:
        assert vault.destroy_keys(s, a) == 1

    assert blob_a in set(vault.blobs.ids()), "the ciphertext itself is still there"
    with database.transaction() as s:
        with pytest.raises(VaultError, match="no longer exists"):
            vault.unseal(s, a, record_a, "note", sealed_a)
        with pytest.raises(VaultError, match="no longer exists"):
            vault.read_blob_bytes(s, a, record_a, "document", blob_a)
        assert vault.unseal(s, b, record_b, "note", sealed_b) == MARKER + b" field"
        assert vault.read_blob_bytes(s, b, record_b, "document", blob_b).startswith(MARKER)
        assert s.scalar(select(func.count()).select_from(DataKey)) == 1


def test_a_new_key_for_a_shredded_holder_does_not_revive_old_data(
    database: Database, vault: Vault
) -> None:
    with database.transaction() as s:
        a = make_holder(s).id
    record = uuid.uuid4()
    sealed, blob_id = _store_for(database, vault, a, record)
    with database.transaction() as s:
        vault.destroy_keys(s, a)
    with database.transaction() as s:
        vault.seal(s, a, uuid.uuid4(), "note", b"new data after reactivation")
    with database.transaction() as s:
        with pytest.raises(VaultError):
            vault.unseal(s, a, record, "note", sealed)
        with pytest.raises(VaultError):
            vault.read_blob_bytes(s, a, record, "document", blob_id)


def test_destroying_keys_is_undone_by_a_rollback(database: Database, vault: Vault) -> None:
    """Shredding is part of the purge transaction: if the purge fails, nothing is lost."""
    with database.transaction() as s:
        a = make_holder(s).id
    record = uuid.uuid4()
    sealed, _ = _store_for(database, vault, a, record)
    with pytest.raises(RuntimeError), database.transaction() as s:
        vault.destroy_keys(s, a)
        raise RuntimeError("purge failed half-way")
    with database.transaction() as s:
        assert vault.unseal(s, a, record, "note", sealed).startswith(MARKER)


def test_deleting_the_holder_row_deletes_their_data_key(database: Database, vault: Vault) -> None:
    """data_keys.holder_id cascades: a purged holder row cannot leave a usable key behind."""
    with database.transaction() as s:
        a = make_holder(s).id
    record = uuid.uuid4()
    sealed, _ = _store_for(database, vault, a, record)
    with database.transaction() as s:
        s.execute(Holder.__table__.delete().where(Holder.id == a))
    with database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(DataKey)) == 0
        with pytest.raises(VaultError):
            vault.unseal(s, a, record, "note", sealed)


def test_no_plaintext_ever_reaches_the_blob_store(
    database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as s:
        a, b = make_holder(s).id, make_holder(s).id
    _store_for(database, vault, a, uuid.uuid4())
    _store_for(database, vault, b, uuid.uuid4())
    with database.transaction() as s:
        vault.destroy_keys(s, a)
    on_disk = _blob_bytes(settings)
    assert len(on_disk) > 2 * len(MARKER) * 2
    assert MARKER not in on_disk
    assert b" blob " not in on_disk
    files = [p for p in Path(settings.effective_blob_dir).rglob("*") if p.is_file()]
    assert len(files) == 2


def test_two_first_uses_of_a_space_share_one_data_key(database: Database, vault: Vault) -> None:
    """Two requests that both found no key (two first deposits, issue 14) end with the same key,
    not a unique-key conflict: the later one takes the key the earlier one committed."""
    with database.transaction() as session:
        holder_id = make_holder(session).id
    with database.read_mostly() as later:
        assert vault._load_key(later, holder_id) is None
        with database.read_mostly() as earlier:
            first = vault.data_key(earlier, holder_id)
        assert vault.data_key(later, holder_id) == first
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(DataKey)) == 1
