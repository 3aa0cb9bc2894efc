"""The master keyring (rule LC-8): generated once with a warning, private to its owner, refused
loudly when unreadable, and overridden by CARNET_MASTER_KEY in production."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from carnet.config import Settings
from carnet.errors import ConfigurationError
from carnet.vault import crypto
from carnet.vault.keys import encode, load_keyring, write_keyring
from carnet.vault.service import Vault


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_run_generates_a_private_key_file_and_warns(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    warnings: list[str] = []
    keyring = load_keyring(path, None, warnings.append)
    assert path.exists()
    assert _mode(path) == 0o600
    assert len(warnings) == 1
    assert str(path) in warnings[0]
    assert "back it up" in warnings[0].lower()
    assert len(keyring.current_key) == crypto.KEY_BYTES
    assert keyring.current == crypto.key_fingerprint(keyring.current_key)


def test_the_generated_key_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        path = tmp_path / "master.key"
        load_keyring(path, None)
    finally:
        os.umask(previous)
    assert _mode(path) == 0o600


def test_later_runs_reuse_the_key_without_warning(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = load_keyring(path, None)
    warnings: list[str] = []
    second = load_keyring(path, None, warnings.append)
    assert second.current_key == first.current_key
    assert warnings == []


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o700])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    load_keyring(path, None)
    path.chmod(mode)
    if mode & 0o077:
        with pytest.raises(ConfigurationError, match="chmod 600"):
            load_keyring(path, None)
    else:
        load_keyring(path, None)  # owner-only modes are fine


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("this is not base64!!\n", "not base64"),
        (base64.b64encode(b"\x01" * 16).decode() + "\n", "expected 32 bytes, got 16"),
        (base64.b64encode(b"\x01" * 33).decode() + "\n", "expected 32 bytes, got 33"),
        ("", "empty"),
        ("\n\n   \n", "empty"),
        ("# only a comment\n", "empty"),
    ],
    ids=["not-base64", "too-short", "too-long", "empty", "blank-lines", "comment-only"],
)
def test_a_corrupted_key_file_is_one_clear_configuration_error(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "master.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigurationError) as caught:
        load_keyring(path, None)
    assert expected in caught.value.message
    assert str(path) in caught.value.message
    assert "corrupted" in caught.value.message or "empty" in caught.value.message


def test_a_binary_garbage_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(os.urandom(64))
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="corrupted"):
        load_keyring(path, None)


def test_the_key_file_lists_the_current_key_first(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    new, old = crypto.new_key(), crypto.new_key()
    write_keyring(path, [new, old])
    assert _mode(path) == 0o600
    keyring = load_keyring(path, None)
    assert keyring.current_key == new
    assert set(keyring.keys.values()) == {new, old}
    assert not list(tmp_path.glob("*.tmp"))


def test_the_environment_key_is_used_instead_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = crypto.new_key()
    warnings: list[str] = []
    keyring = load_keyring(path, encode(key), warnings.append)
    assert keyring.current_key == key
    assert not path.exists(), "no key file is generated when the environment gives the key"
    assert warnings == []


def test_the_environment_wins_over_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    from_file = load_keyring(path, None).current_key
    key = crypto.new_key()
    assert load_keyring(path, encode(key)).current_key == key != from_file


def test_the_environment_may_list_several_keys_current_first(tmp_path: Path) -> None:
    new, old = crypto.new_key(), crypto.new_key()
    keyring = load_keyring(tmp_path / "master.key", f"{encode(new)},{encode(old)}")
    assert keyring.current_key == new
    assert set(keyring.keys.values()) == {new, old}


def test_a_corrupted_environment_key_names_the_variable_not_the_value(tmp_path: Path) -> None:
    secret = base64.b64encode(b"\x07" * 20).decode()
    with pytest.raises(ConfigurationError) as caught:
        load_keyring(tmp_path / "master.key", secret)
    assert "CARNET_MASTER_KEY" in caught.value.message
    assert secret not in caught.value.message


def test_vault_from_settings_reads_carnet_master_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = crypto.new_key()
    monkeypatch.setenv("CARNET_MASTER_KEY", encode(key))
    vault = Vault.from_settings(Settings())
    assert vault.keyring.current_key == key
    assert not settings.effective_master_key_file.exists()
    assert Settings().public_view()["master_key"] == "from environment"
    assert encode(key) not in repr(Settings())
