"""Start-up key check and master key rotation (rule LC-8): a wrong master key is refused before it
can write anything; rotation re-wraps data keys without touching any content, then forgets the old
key."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from carnet.config import Settings
from carnet.db import Database
from carnet.errors import VaultError
from carnet.vault import crypto
from carnet.vault.keys import MasterKeyring, encode, load_keyring, parse_keyring
from carnet.vault.models import DataKey, VaultMeta
from carnet.vault.service import Vault, rotate_master_key
from tests.factories import make_holder


def _blob_files(settings: Settings) -> dict[str, bytes]:
    root = settings.effective_blob_dir
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _populate(
    database: Database, vault: Vault, holders: int = 2
) -> list[tuple[uuid.UUID, uuid.UUID, bytes, str]]:
    """For each holder: (holder id, record id, sealed field, blob id), committed."""
    stored = []
    for n in range(holders):
        with database.transaction() as s:
            holder = make_holder(s).id
            record = uuid.uuid4()
            sealed = vault.seal(s, holder, record, "note", f"field {n}".encode())
            blob = vault.put_blob(s, holder, record, "document", [f"blob {n}".encode() * 1000])
        stored.append((holder, record, sealed, blob.blob_id))
    return stored


def _assert_all_open(
    database: Database, vault: Vault, stored: list[tuple[uuid.UUID, uuid.UUID, bytes, str]]
) -> None:
    with database.transaction() as s:
        for n, (holder, record, sealed, blob_id) in enumerate(stored):
            assert vault.unseal(s, holder, record, "note", sealed) == f"field {n}".encode()
            data = vault.read_blob_bytes(s, holder, record, "document", blob_id)
            assert data == f"blob {n}".encode() * 1000


# -- start-up check ------------------------------------------------------------------------------


def test_the_first_check_records_which_master_key_the_database_expects(
    database: Database, vault: Vault
) -> None:
    vault.check(database)
    with database.transaction() as s:
        meta = s.get(VaultMeta, 1)
        assert meta is not None
        assert meta.master_key_id == vault.keyring.current
    vault.check(database)  # and the same key passes again


def test_another_master_key_is_refused_at_start_up(database: Database, vault: Vault) -> None:
    vault.check(database)
    stranger = Vault(MasterKeyring.of([crypto.new_key()]), vault.blobs)
    with pytest.raises(VaultError, match="master key") as caught:
        stranger.check(database)
    assert vault.keyring.current in caught.value.message
    assert stranger.keyring.current_key.hex() not in caught.value.message


def test_a_keyring_missing_the_key_of_some_data_keys_is_refused(
    database: Database, vault: Vault
) -> None:
    """Half-finished rotation: data keys wrapped by a key the keyring no longer has."""
    vault.check(database)
    old = vault.keyring.current_key
    newer = Vault(MasterKeyring.of([crypto.new_key(), old]), vault.blobs)
    with database.transaction() as s:
        newer.data_key(s, make_holder(s).id)
    with pytest.raises(VaultError, match="not configured"):
        Vault(MasterKeyring.of([old]), vault.blobs).check(database)


# -- rotation ------------------------------------------------------------------------------------


def test_rotation_rewraps_data_keys_and_leaves_content_untouched(
    database: Database, vault: Vault, settings: Settings
) -> None:
    key_file = settings.effective_master_key_file
    stored = _populate(database, vault, holders=3)
    vault.check(database)
    old_key = vault.keyring.current_key
    blobs_before = _blob_files(settings)
    assert len(blobs_before) == 3

    reported: list[int] = []
    count = rotate_master_key(
        database, vault, str(key_file), batch_size=2, progress=reported.append
    )

    assert count == 3
    assert sum(reported) == 3
    assert _blob_files(settings) == blobs_before, "content blobs are never rewritten"
    on_file = load_keyring(key_file, None)
    assert list(on_file.keys.values()) == [vault.keyring.current_key]
    assert on_file.current_key != old_key
    assert encode(old_key) not in key_file.read_text()
    with database.transaction() as s:
        rows = s.scalars(select(DataKey)).all()
        assert {r.master_key_id for r in rows} == {on_file.current}
        assert all(r.rewrapped_at is not None for r in rows)

    reloaded = Vault.from_settings(settings)
    reloaded.check(database)
    _assert_all_open(database, reloaded, stored)
    _assert_all_open(database, vault, stored)

    old_only = Vault(MasterKeyring.of([old_key]), vault.blobs)
    with pytest.raises(VaultError, match="master key"):
        old_only.check(database)
    with database.transaction() as s:
        holder, record, sealed, _ = stored[0]
        with pytest.raises(VaultError):
            old_only.unseal(s, holder, record, "note", sealed)


def test_rotation_can_be_run_again(database: Database, vault: Vault, settings: Settings) -> None:
    stored = _populate(database, vault)
    vault.check(database)
    key_file = str(settings.effective_master_key_file)
    assert rotate_master_key(database, vault, key_file) == 2
    assert rotate_master_key(database, vault, key_file) == 2
    Vault.from_settings(settings).check(database)
    _assert_all_open(database, Vault.from_settings(settings), stored)


def test_a_rotation_interrupted_after_writing_the_new_key_still_opens_everything(
    database: Database, vault: Vault, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash mid-way leaves a keyring (new key first, old kept) that opens every data key."""
    stored = _populate(database, vault, holders=3)
    vault.check(database)
    key_file = settings.effective_master_key_file
    old_key = vault.keyring.current_key

    def crash(_n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_master_key(database, vault, str(key_file), batch_size=1, progress=crash)
    keyring = parse_keyring(key_file.read_text(), str(key_file))
    assert len(keyring.keys) == 2
    assert keyring.current_key != old_key
    assert old_key in keyring.keys.values()
    half = Vault.from_settings(settings)
    half.check(database)
    _assert_all_open(database, half, stored)

    # Running again rotates to yet another key and re-wraps everything under it.
    assert rotate_master_key(database, half, str(key_file)) == 3
    final = Vault.from_settings(settings)
    assert list(final.keyring.keys) == [final.keyring.current]
    final.check(database)
    _assert_all_open(database, final, stored)


# -- CLI -----------------------------------------------------------------------------------------


def test_keys_rotate_command_reports_the_count(
    database: Database, vault: Vault, settings: Settings, run_cli
) -> None:  # type: ignore[no-untyped-def]
    stored = _populate(database, vault)
    vault.check(database)
    before = Path(settings.effective_master_key_file).read_text()
    status, out, err = run_cli("keys", "rotate")
    assert status == 0, err
    assert "2 data key(s) re-wrapped" in " ".join(out.split())
    assert Path(settings.effective_master_key_file).read_text() != before
    _assert_all_open(database, Vault.from_settings(settings), stored)


def test_keys_rotate_refuses_an_environment_key_with_a_readable_message(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CARNET_MASTER_KEY", encode(crypto.new_key()))
    status, out, err = run_cli("keys", "rotate")
    assert status != 0
    assert "CARNET_MASTER_KEY" in " ".join(err.split())
    assert "Traceback" not in out + err
    assert not settings.effective_master_key_file.exists()
