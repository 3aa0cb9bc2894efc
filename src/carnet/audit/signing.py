"""The Ed25519 key that signs audit checkpoints (file with mode 0600, generated on first use)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carnet.keyfiles import load_private_key


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
    key = load_private_key(
        path, Ed25519PrivateKey, Ed25519PrivateKey.generate, "audit signing key", warn
    )
    return Signer(cast(Ed25519PrivateKey, key))  # load_private_key checked the kind
