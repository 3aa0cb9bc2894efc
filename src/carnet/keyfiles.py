"""Private keys kept in files of mode 0600, generated on first use.

The audit checkpoints' Ed25519 key and the RSA key signing OpenID Connect id_tokens live beside the
database, never in it, so a copy of the database alone can neither forge a checkpoint nor an
identity. Generation is race-free (O_EXCL): two processes starting at once keep the same key.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from carnet.errors import ConfigurationError


def load_private_key(
    path: Path,
    kind: type[object],
    generate: Callable[[], PrivateKeyTypes],
    label: str,
    warn: Callable[[str], None] | None = None,
) -> PrivateKeyTypes:
    """The key of type `kind` in `path`, written there by `generate` when the file is missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = generate().private_bytes(
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
                warn(f"Generated a new {label} in {path}; back it up.")
        except FileExistsError:
            pass
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ConfigurationError(f"The {label} {path} is readable by others; run chmod 600.")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise ConfigurationError(f"The {label} {path} is corrupted.") from None
    if not isinstance(key, kind):
        raise ConfigurationError(f"The {label} {path} is not of the expected kind.")
    return key
