"""Envelope encryption for health data: master keyring -> one data key per holder -> content.

Everything a holder's space stores in a sensitive field or a blob is encrypted under that holder's
data key, with associated data binding it to the holder, the record and its purpose: a ciphertext
copied onto another record fails to open. Destroying the data key makes all of it unreadable
(crypto-shredding, rule LC-8), including copies in backups.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Select, delete, event, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carnet import clock
from carnet.config import Settings
from carnet.db import Database, KeyColumn, Preload, unit_cached, unit_keep
from carnet.errors import VaultError
from carnet.vault import crypto
from carnet.vault.blobstore import BlobStore, LocalBlobStore
from carnet.vault.keys import MasterKeyring, load_keyring, write_keyring
from carnet.vault.models import DataKey, SystemKey, VaultMeta

_CHECK_PLAINTEXT = b"carnet-vault-check"
_SYSTEM_KEY_ID = uuid.UUID(int=0)


_KEY_TABLES = frozenset({"data_keys"})
_KEY_ROW = "vault.data_key_row"


class _DataKeyPart:
    """The space's wrapped data key as a share of another domain's query (`db.Preload`): the row
    is kept for the unit of work; it is unwrapped only when a vault needs it."""

    width = 1

    def join(self, statement: Select[Any], holder_id: KeyColumn) -> Select[Any]:
        return statement.add_columns(DataKey).outerjoin(DataKey, DataKey.holder_id == holder_id)

    def keep(self, session: Session, holder_id: uuid.UUID, values: Sequence[Any]) -> None:
        unit_keep(session, (_KEY_ROW, holder_id), _KEY_TABLES, values[0])


DATA_KEY: Preload = _DataKeyPart()


def _aad(holder_id: uuid.UUID, record_id: uuid.UUID | str, purpose: str) -> bytes:
    return f"{holder_id}|{record_id}|{purpose}".encode()


def _wrap_aad(holder_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
    return b"carnet-data-key|" + holder_id.bytes + key_id.bytes


@dataclass(frozen=True)
class StoredBlob:
    """What the vault tells the caller about a blob it stored (sizes and hashes of the plaintext)."""

    blob_id: str
    size: int
    sha256: str
    sha1: str
    stored_size: int


class Vault:
    """The keyring and blob store of this process. Key material never leaves this module."""

    def __init__(self, keyring: MasterKeyring, blobs: BlobStore) -> None:
        self.keyring = keyring
        self.blobs = blobs
        self._system_keys: dict[str, bytes] = {}

    @classmethod
    def from_settings(cls, settings: Settings, warn: Callable[[str], None] | None = None) -> Vault:
        secret = settings.master_key.get_secret_value() if settings.master_key else None
        keyring = load_keyring(settings.effective_master_key_file, secret, warn)
        return cls(keyring, LocalBlobStore(settings.effective_blob_dir))

    # -- start-up check ---------------------------------------------------------------------

    def check(self, database: Database) -> None:
        """Refuse to run with a master key that does not match the database."""
        with database.transaction() as session:
            meta = session.get(VaultMeta, 1)
            if meta is None:
                key = self.keyring.current_key
                check = crypto.wrap(key, _CHECK_PLAINTEXT, b"carnet-vault-check")
                session.add(VaultMeta(id=1, master_key_id=self.keyring.current, check_value=check))
            else:
                key_bytes = self.keyring.keys.get(meta.master_key_id)
                if key_bytes is None:
                    raise VaultError(
                        "The master key does not match this database "
                        f"(the database expects key id {meta.master_key_id})."
                    )
                crypto.unwrap(key_bytes, meta.check_value, b"carnet-vault-check")
            unknown = session.scalars(
                select(DataKey.master_key_id)
                .where(DataKey.master_key_id.not_in(list(self.keyring.keys)))
                .limit(1)
            ).first()
            if unknown is not None:
                raise VaultError(
                    f"Some data keys are wrapped by master key id {unknown}, which is not configured."
                )

    # -- data keys --------------------------------------------------------------------------

    def _load_key(self, session: Session, holder_id: uuid.UUID) -> tuple[uuid.UUID, bytes] | None:
        """The holder's unwrapped data key, read once per unit of work: kept in the transaction
        (`db.unit_cached`), dropped at its end and at any write to `data_keys` in it (a key
        created, rewrapped or destroyed, LC-8), never beyond."""
        return unit_cached(
            session,
            ("vault.data_key", id(self), holder_id),
            _KEY_TABLES,
            lambda: self._read_key(session, holder_id),
        )

    def _read_key(self, session: Session, holder_id: uuid.UUID) -> tuple[uuid.UUID, bytes] | None:
        row = unit_cached(
            session,
            (_KEY_ROW, holder_id),
            _KEY_TABLES,
            lambda: session.scalars(select(DataKey).where(DataKey.holder_id == holder_id)).first(),
        )
        if row is None:
            return None
        master = self.keyring.keys.get(row.master_key_id)
        if master is None:
            raise VaultError(f"Master key id {row.master_key_id} is not configured.")
        return row.id, crypto.unwrap(master, row.wrapped, _wrap_aad(holder_id, row.id))

    def data_key(self, session: Session, holder_id: uuid.UUID) -> tuple[uuid.UUID, bytes]:
        """The holder's data key, created (and wrapped) on first use."""
        found = self._load_key(session, holder_id)
        if found is not None:
            return found
        key_id = uuid.uuid4()
        key = crypto.new_key()
        wrapped = crypto.wrap(self.keyring.current_key, key, _wrap_aad(holder_id, key_id))
        # Two first deposits for one space may race to create its key: the second finds the
        # first's (never a unique-key conflict answered as a 409, nor two keys).
        dialect = session.get_bind().dialect.name
        insert_new = postgresql.insert if dialect == "postgresql" else sqlite.insert
        created = session.execute(
            insert_new(DataKey)
            .values(
                id=key_id, holder_id=holder_id, master_key_id=self.keyring.current, wrapped=wrapped
            )
            .on_conflict_do_nothing(index_elements=["holder_id"])
            .returning(DataKey.id)
        ).scalar()
        if created is None:
            theirs = self._load_key(session, holder_id)
            if theirs is None:  # pragma: no cover - the conflicting key was destroyed meanwhile
                raise VaultError("The space's data key changed during the request; try again.")
            return theirs
        # The unit of work reads it back from here (the insert has just dropped "no key").
        return unit_cached(
            session, ("vault.data_key", id(self), holder_id), _KEY_TABLES, lambda: (key_id, key)
        )

    def data_keys(
        self, session: Session, holder_ids: Iterable[uuid.UUID], chunk: int = 1000
    ) -> dict[uuid.UUID, tuple[uuid.UUID, bytes]]:
        """The data keys of many holders at once (bulk imports): one query per chunk, missing
        keys created with one insert. Same keys, same wrapping as `data_key`."""
        wanted = sorted(set(holder_ids))
        found: dict[uuid.UUID, tuple[uuid.UUID, bytes]] = {}
        for start in range(0, len(wanted), chunk):
            for row in session.scalars(
                select(DataKey).where(DataKey.holder_id.in_(wanted[start : start + chunk]))
            ):
                master = self.keyring.keys.get(row.master_key_id)
                if master is None:
                    raise VaultError(f"Master key id {row.master_key_id} is not configured.")
                found[row.holder_id] = (
                    row.id,
                    crypto.unwrap(master, row.wrapped, _wrap_aad(row.holder_id, row.id)),
                )
        created = []
        for holder_id in wanted:
            if holder_id not in found:
                key_id, key = uuid.uuid4(), crypto.new_key()
                wrapped = crypto.wrap(self.keyring.current_key, key, _wrap_aad(holder_id, key_id))
                created.append(
                    {
                        "id": key_id,
                        "holder_id": holder_id,
                        "master_key_id": self.keyring.current,
                        "wrapped": wrapped,
                    }
                )
                found[holder_id] = (key_id, key)
        if created:
            session.execute(insert(DataKey), created)
        return found

    @staticmethod
    def seal_with(
        key: tuple[uuid.UUID, bytes],
        holder_id: uuid.UUID,
        record_id: uuid.UUID | str,
        purpose: str,
        plaintext: bytes,
    ) -> bytes:
        """`seal` with a key already fetched by `data_keys` (bulk imports)."""
        return crypto.seal_field(key[0], key[1], plaintext, _aad(holder_id, record_id, purpose))

    def _existing_key(self, session: Session, holder_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
        found = self._load_key(session, holder_id)
        if found is None or found[0] != key_id:
            # Shredded (LC-8) or belonging to someone else: the data is gone for good.
            raise VaultError("This data cannot be decrypted: its key no longer exists.")
        return found[1]

    def destroy_keys(self, session: Session, holder_id: uuid.UUID) -> int:
        """Crypto-shred: delete the holder's data key; every ciphertext of theirs becomes noise."""
        result = session.execute(delete(DataKey).where(DataKey.holder_id == holder_id))
        return int(getattr(result, "rowcount", 0) or 0)

    # -- service-wide keys and keyed hashes -------------------------------------------------

    def system_key(self, session: Session, name: str) -> bytes:
        """A named service-wide key, created on first use; cached unwrapped in this process."""
        cached = self._system_keys.get(name)
        if cached is not None:
            return cached
        aad = b"carnet-system-key|" + name.encode()
        row = session.get(SystemKey, name)
        if row is None:
            key = crypto.new_key()
            row = SystemKey(
                name=name,
                master_key_id=self.keyring.current,
                wrapped=crypto.wrap(self.keyring.current_key, key, aad),
            )
            session.add(row)
            session.flush()
        else:
            master = self.keyring.keys.get(row.master_key_id)
            if master is None:
                raise VaultError(f"Master key id {row.master_key_id} is not configured.")
            key = crypto.unwrap(master, row.wrapped, aad)
        self._system_keys[name] = key
        return key

    def keyed_hash(self, session: Session, name: str, value: str) -> str:
        """HMAC-SHA256 under the system key `name`: codes and tombstones are stored this way, so a
        copy of the database alone cannot test guesses against them."""
        return keyed_hash(self.system_key(session, name), value)

    def seal_system(self, session: Session, name: str, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt service-owned secrets (e.g. codes waiting to be printed) under a system key."""
        return crypto.seal_field(_SYSTEM_KEY_ID, self.system_key(session, name), plaintext, aad)

    def open_system(self, session: Session, name: str, sealed: bytes, aad: bytes) -> bytes:
        return crypto.open_field(self.system_key(session, name), sealed, aad)

    # -- sensitive fields -------------------------------------------------------------------

    def seal(
        self,
        session: Session,
        holder_id: uuid.UUID,
        record_id: uuid.UUID | str,
        purpose: str,
        plaintext: bytes,
    ) -> bytes:
        key_id, key = self.data_key(session, holder_id)
        return crypto.seal_field(key_id, key, plaintext, _aad(holder_id, record_id, purpose))

    def unseal(
        self,
        session: Session,
        holder_id: uuid.UUID,
        record_id: uuid.UUID | str,
        purpose: str,
        sealed: bytes,
    ) -> bytes:
        key = self._existing_key(session, holder_id, crypto.field_key_id(sealed))
        return crypto.open_field(key, sealed, _aad(holder_id, record_id, purpose))

    def seal_text(
        self,
        session: Session,
        holder_id: uuid.UUID,
        record_id: uuid.UUID | str,
        purpose: str,
        text: str,
    ) -> bytes:
        return self.seal(session, holder_id, record_id, purpose, text.encode("utf-8"))

    def unseal_text(
        self,
        session: Session,
        holder_id: uuid.UUID,
        record_id: uuid.UUID | str,
        purpose: str,
        sealed: bytes,
    ) -> str:
        return self.unseal(session, holder_id, record_id, purpose, sealed).decode("utf-8")

    # -- blobs ------------------------------------------------------------------------------

    def put_blob(
        self,
        session: Session,
        holder_id: uuid.UUID,
        record_id: uuid.UUID | str,
        purpose: str,
        chunks: Iterable[bytes],
    ) -> StoredBlob:
        """Encrypt and store durably (fsync + rename) before the caller commits its metadata row.

        A crash after this but before the commit leaves an unreferenced blob for `carnet fsck`.
        """
        key_id, key = self.data_key(session, holder_id)
        sha256, sha1 = hashlib.sha256(), hashlib.sha1()  # noqa: S324 - SHA-1 is what FHIR R4 defines
        size = 0

        def _measured() -> Iterator[bytes]:
            nonlocal size
            for chunk in chunks:
                sha256.update(chunk)
                sha1.update(chunk)
                size += len(chunk)
                yield chunk

        blob_id, stored = self.blobs.put(
            crypto.encrypt_stream(key_id, key, _measured(), _aad(holder_id, record_id, purpose))
        )
        # If the transaction rolls back, the blob goes with it (see _forget_new_blobs).
        session.info.setdefault(_NEW_BLOBS, []).append((self.blobs, blob_id))
        return StoredBlob(blob_id, size, sha256.hexdigest(), sha1.hexdigest(), stored)

    def adopt_blob(self, session: Session, blob_id: str) -> None:
        """A blob stored before this transaction (`put_blob` in an earlier one) now belongs to
        it: deleted if it rolls back, kept if it commits."""
        session.info.setdefault(_NEW_BLOBS, []).append((self.blobs, blob_id))

    def drop_blob(self, blob_id: str) -> None:
        """Delete a blob no transaction adopted (a deposit prepared, then refused)."""
        self.blobs.delete(blob_id)

    def read_blob(
        self,
        session: Session,
        holder_id: uuid.UUID,
        record_id: uuid.UUID | str,
        purpose: str,
        blob_id: str,
        expected_sha256: str | None = None,
    ) -> Iterator[bytes]:
        """Decrypt a blob as a stream; the SHA-256 is checked when the last segment is read."""
        with self.blobs.open(blob_id) as handle:
            header = handle.read(crypto.BLOB_HEADER_BYTES)
        key = self._existing_key(session, holder_id, crypto.blob_key_id(header))
        aad = _aad(holder_id, record_id, purpose)

        def _stream() -> Iterator[bytes]:
            digest = hashlib.sha256()
            for chunk in crypto.decrypt_stream(key, self.blobs.read(blob_id), aad):
                digest.update(chunk)
                yield chunk
            if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
                raise VaultError("Stored content does not match its recorded hash.")

        return _stream()

    def read_blob_bytes(
        self,
        session: Session,
        holder_id: uuid.UUID,
        record_id: uuid.UUID | str,
        purpose: str,
        blob_id: str,
        expected_sha256: str | None = None,
    ) -> bytes:
        return b"".join(
            self.read_blob(session, holder_id, record_id, purpose, blob_id, expected_sha256)
        )

    def delete_blob(self, blob_id: str) -> bool:
        return self.blobs.delete(blob_id)

    def delete_blob_after_commit(self, session: Session, blob_id: str) -> None:
        """Delete the blob once the transaction that stops referencing it has committed, so a
        rollback never leaves a row pointing at a missing blob."""
        session.info.setdefault(_DOOMED_BLOBS, []).append((self.blobs, blob_id))


_NEW_BLOBS = "carnet.vault.new_blobs"
_DOOMED_BLOBS = "carnet.vault.doomed_blobs"


@event.listens_for(Session, "after_commit")
def _delete_doomed_blobs(session: Session) -> None:
    session.info.pop(_NEW_BLOBS, None)
    for store, blob_id in session.info.pop(_DOOMED_BLOBS, []):
        store.delete(blob_id)


@event.listens_for(Session, "after_rollback")
def _forget_new_blobs(session: Session) -> None:
    """A rolled-back write leaves no orphan blob; a crash before this runs is for `carnet fsck`."""
    session.info.pop(_DOOMED_BLOBS, None)
    for store, blob_id in session.info.pop(_NEW_BLOBS, []):
        store.delete(blob_id)


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


# -- master key rotation ---------------------------------------------------------------------


def rotate_master_key(
    database: Database,
    vault: Vault,
    key_file: str,
    *,
    new_key: bytes | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-wrap every data key under a new master key, without re-encrypting any content.

    Restartable: the new key is first added to the keyring file (as current, old ones kept), then
    data keys are re-wrapped in committed batches, then the old keys are dropped from the file. A
    crash at any step leaves a keyring that still opens every data key; running again finishes.
    Returns the number of data keys re-wrapped.
    """
    from pathlib import Path

    path = Path(key_file)
    old = vault.keyring
    fresh = new_key or crypto.new_key()
    ordered = [fresh] + [k for kid, k in old.keys.items() if kid != crypto.key_fingerprint(fresh)]
    write_keyring(path, ordered)
    keyring = MasterKeyring.of(ordered)
    vault.keyring = keyring
    total = 0
    while True:
        with database.transaction() as session:
            rows = session.scalars(
                select(DataKey)
                .where(DataKey.master_key_id != keyring.current)
                .order_by(DataKey.id)
                .limit(batch_size)
            ).all()
            if not rows:
                break
            for row in rows:
                master = keyring.keys.get(row.master_key_id)
                if master is None:
                    raise VaultError(f"Master key id {row.master_key_id} is not configured.")
                aad = _wrap_aad(row.holder_id, row.id)
                key = crypto.unwrap(master, row.wrapped, aad)
                row.wrapped = crypto.wrap(keyring.current_key, key, aad)
                row.master_key_id = keyring.current
                row.rewrapped_at = clock.now()
            total += len(rows)
        if progress:
            progress(len(rows))
    with database.transaction() as session:
        for system in session.scalars(select(SystemKey)):
            master = keyring.keys.get(system.master_key_id)
            if master is None:
                raise VaultError(f"Master key id {system.master_key_id} is not configured.")
            aad = b"carnet-system-key|" + system.name.encode()
            system.wrapped = crypto.wrap(
                keyring.current_key, crypto.unwrap(master, system.wrapped, aad), aad
            )
            system.master_key_id = keyring.current
        meta = session.get(VaultMeta, 1)
        check = crypto.wrap(keyring.current_key, _CHECK_PLAINTEXT, b"carnet-vault-check")
        if meta is None:
            session.add(VaultMeta(id=1, master_key_id=keyring.current, check_value=check))
        else:
            meta.master_key_id = keyring.current
            meta.check_value = check
    write_keyring(path, [fresh])
    vault.keyring = MasterKeyring.of([fresh])
    return total


# -- many holders' fields in one long run (bulk imports) ------------------------------------------


class BulkSealer:
    """Seals fields under the data keys of many holders through a long run of batches (the
    reimbursement feed): each holder's key is unwrapped, and its AES-GCM cipher built, once per
    run instead of once per batch or per field. Same format, same key, same associated data as
    `seal`.

    The unwrapped keys outlive a transaction here, which `data_key` never allows; what keeps the
    erasure guarantee (LC-8) is `refresh`, called in each batch's transaction before sealing: it
    reads the holders' key ids again and forgets any key whose row is gone or was replaced, so a
    key destroyed meanwhile is never used again (a missing key is created, as `data_keys` does).
    `close` drops the keys at the end of the run.
    """

    def __init__(self, vault: Vault, limit: int = 100_000) -> None:
        self.vault = vault
        self.limit = limit  # keys kept between batches at most (memory), the current batch's always
        self._keys: dict[uuid.UUID, tuple[bytes, bytes, AESGCM]] = {}  # header, aad prefix, cipher
        self._ready: dict[uuid.UUID, tuple[bytes, bytes, AESGCM]] = {}  # the last refresh's

    def refresh(self, session: Session, holder_ids: Iterable[uuid.UUID], chunk: int = 5000) -> None:
        """Make the data keys of these holders ready to seal with, as this transaction sees them."""
        wanted = sorted(set(holder_ids))
        if len(self._keys) + len(wanted) > self.limit:
            self._keys = {h: found for h in wanted if (found := self._keys.get(h)) is not None}
        current: dict[uuid.UUID, uuid.UUID] = {}
        for holder_id, key_id, master_key_id, wrapped in _key_rows(session, wanted, chunk):
            current[holder_id] = key_id
            known = self._keys.get(holder_id)
            if known is not None and known[0][1:] == key_id.bytes:
                continue
            master = self.vault.keyring.keys.get(master_key_id)
            if master is None:
                raise VaultError(f"Master key id {master_key_id} is not configured.")
            key = crypto.unwrap(master, wrapped, _wrap_aad(holder_id, key_id))
            self._remember(holder_id, key_id, key)
        missing = [h for h in wanted if h not in current]
        for holder_id in missing:
            self._keys.pop(holder_id, None)  # destroyed (LC-8): never sealed with again
        if missing:
            self._create(session, missing)
        self._ready = {h: self._keys[h] for h in wanted}

    def _create(self, session: Session, holder_ids: list[uuid.UUID]) -> None:
        """The data keys of holders who have none yet: made and wrapped as `data_keys` does, written
        with one Core executemany (a first feed creates most of its holders' keys)."""
        keyring, now = self.vault.keyring, clock.now()
        rows = []
        for holder_id in holder_ids:
            key_id, key = uuid.uuid4(), crypto.new_key()
            wrapped = crypto.wrap(keyring.current_key, key, _wrap_aad(holder_id, key_id))
            rows.append(
                {
                    "id": key_id,
                    "holder_id": holder_id,
                    "master_key_id": keyring.current,
                    "wrapped": wrapped,
                    "created_at": now,
                    "rewrapped_at": None,
                }
            )
            self._remember(holder_id, key_id, key)
        session.connection().execute(insert(DataKey), rows)

    def _remember(self, holder_id: uuid.UUID, key_id: uuid.UUID, key: bytes) -> None:
        header = crypto.FIELD_VERSION + key_id.bytes
        self._keys[holder_id] = (header, f"{holder_id}|".encode(), AESGCM(key))

    def seal(self, holder_id: uuid.UUID, record_id: str, purpose: str, plaintext: bytes) -> bytes:
        """`seal` for a holder made ready by the last `refresh` (KeyError otherwise), in the same
        transaction; `record_id` is the record's id as canonical text (what `str(uuid)` gives)."""
        header, prefix, cipher = self._ready[holder_id]
        nonce = os.urandom(crypto.NONCE_BYTES)
        aad = header + prefix + f"{record_id}|{purpose}".encode()
        return header + nonce + cipher.encrypt(nonce, plaintext, aad)

    def close(self) -> None:
        self._keys.clear()
        self._ready.clear()


def _key_rows(
    session: Session, holder_ids: list[uuid.UUID], chunk: int
) -> Iterator[tuple[uuid.UUID, uuid.UUID, str, bytes]]:
    """(holder id, key id, master key id, wrapped key) of these holders' data keys, straight through
    the driver: `= ANY(array)` on PostgreSQL, `IN` by `chunk` on SQLite (ids stored as hex)."""
    connection = session.connection()
    raw = connection.connection.driver_connection
    assert raw is not None
    columns = "holder_id, id, master_key_id, wrapped"
    cursor = raw.cursor()
    try:
        if connection.dialect.name == "postgresql":
            cursor.execute(
                f"SELECT {columns} FROM data_keys WHERE holder_id = ANY(%s)",  # noqa: S608
                (holder_ids,),
            )
            yield from cursor.fetchall()
            return
        for start in range(0, len(holder_ids), chunk):
            part = [h.hex for h in holder_ids[start : start + chunk]]
            cursor.execute(
                f"SELECT {columns} FROM data_keys WHERE holder_id IN ({','.join('?' * len(part))})",  # noqa: S608
                part,
            )
            for holder_id, key_id, master_key_id, wrapped in cursor.fetchall():
                yield uuid.UUID(holder_id), uuid.UUID(key_id), master_key_id, bytes(wrapped)
    finally:
        cursor.close()
