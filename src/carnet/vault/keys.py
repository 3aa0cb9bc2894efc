"""The master keyring: the one secret that wraps every holder's data key.

It comes from `CARNET_MASTER_KEY` (production: injected by the environment or a secrets manager) or
from a file with mode 0600, generated on first run with a warning. The file holds one base64 key a
line, the current one first; older keys stay listed only while `carnet keys rotate` re-wraps.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from carnet.errors import ConfigurationError
from carnet.vault.crypto import KEY_BYTES, key_fingerprint, new_key


@dataclass(frozen=True)
class MasterKeyring:
    """Master keys by fingerprint; `current` wraps new data keys."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def of(cls, keys: list[bytes]) -> MasterKeyring:
        if not keys:
            raise ConfigurationError("The master keyring is empty.")
        return cls({key_fingerprint(k): k for k in keys}, key_fingerprint(keys[0]))

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]


def _decode(line: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"The master key in {origin} is corrupted (not base64).") from None
    if len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"The master key in {origin} is corrupted (expected {KEY_BYTES} bytes, got {len(key)})."
        )
    return key


def encode(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def parse_keyring(text: str, origin: str) -> MasterKeyring:
    """Keys one a line (file) or comma-separated (environment); `#` starts a comment line."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    lines = [part for line in lines for part in line.split(",") if part.strip()]
    if not lines:
        raise ConfigurationError(f"The master key in {origin} is empty.")
    return MasterKeyring.of([_decode(line, origin) for line in lines])


def load_keyring(
    path: Path, from_env: str | None, warn: Callable[[str], None] | None = None
) -> MasterKeyring:
    """Read the keyring from the environment value, else from `path` (created if missing)."""
    if from_env:
        return parse_keyring(from_env, "CARNET_MASTER_KEY")
    if not path.exists():
        write_keyring(path, [new_key()], exclusive=True)
        if warn:
            warn(
                f"Generated a new master key in {path}. Back it up separately from the data: "
                "without it nothing can be decrypted."
            )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"The master key file {path} is readable by others (mode {mode:o}); run chmod 600."
        )
    return parse_keyring(path.read_text(encoding="ascii", errors="replace"), str(path))


def write_keyring(path: Path, keys: list[bytes], *, exclusive: bool = False) -> None:
    """Write the keyring atomically with mode 0600 (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "# Carnet master keyring: current key first. Keep secret, back up separately.\n"
    body += "".join(encode(k) + "\n" for k in keys)
    if exclusive:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        return
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
