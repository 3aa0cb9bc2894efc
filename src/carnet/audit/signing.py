"""The Ed25519 key that signs audit checkpoints (file with mode 0600, generated on first use)."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carnet.errors import ConfigurationError


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return hashlib.sha256(raw).hexdigest()[:16]

    @cached_property
    def mac_key(self) -> bytes:
        """A MAC key derived from the private key: the anchor store's records (ACC-8) are
        authenticated with it, so whoever can write there but lacks the key cannot forge one."""
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return hashlib.sha256(b"carnet-audit-anchor-mac\n" + raw).digest()

    def mac(self, message: bytes) -> str:
        return hmac.new(self.mac_key, message, "sha256").hexdigest()

    def mac_ok(self, message: bytes, tag: str) -> bool:
        return hmac.compare_digest(self.mac(message), tag)

    def sign(self, message: bytes) -> str:
        return self.private_key.sign(message).hex()

    def verify(self, message: bytes, signature: str) -> bool:
        try:
            self.public_key.verify(bytes.fromhex(signature), message)
        except (InvalidSignature, ValueError):
            return False
        return True


def load_signer(path: Path, warn: Callable[[str], None] | None = None) -> Signer:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            if warn:
                warn(f"Generated a new audit signing key in {path}; back it up.")
        except FileExistsError:
            pass
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ConfigurationError(
            f"The audit signing key {path} is readable by others; run chmod 600."
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise ConfigurationError(f"The audit signing key {path} is corrupted.") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"The audit signing key {path} is not an Ed25519 key.")
    return Signer(key)
