"""Where encrypted blobs live. Only ciphertext ever reaches a blob store.

The interface is small so that an S3-compatible store can replace the local one at national scale.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from carnet import metrics
from carnet.errors import NotFound, VaultError

READ_CHUNK = 256 * 1024


class BlobStore(Protocol):
    def put(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the chunks durably under a new random id; return (id, stored size)."""

    def open(self, blob_id: str) -> BinaryIO: ...

    def read(self, blob_id: str) -> Iterator[bytes]: ...

    def delete(self, blob_id: str) -> bool: ...

    def ids(self) -> Iterator[str]: ...


def _valid_id(blob_id: str) -> bool:
    return len(blob_id) == 32 and all(c in "0123456789abcdef" for c in blob_id)


class LocalBlobStore:
    """Files under `root/ab/cd/<id>`: written to a temporary file, fsynced, then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def _path(self, blob_id: str) -> Path:
        if not _valid_id(blob_id):
            raise NotFound("No such blob.")
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def put(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        blob_id = secrets.token_hex(16)
        temporary = self.tmp / f"{blob_id}.part"
        size = 0
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            final = self._path(blob_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, final)
            _fsync_dir(final.parent)
        except BaseException as error:
            temporary.unlink(missing_ok=True)
            # The store failed (disk, permissions), not the caller's stream of chunks.
            if isinstance(error, (OSError, VaultError)):
                metrics.BLOB_STORE_ERRORS.labels("put").inc()
            raise
        return blob_id, size

    def open(self, blob_id: str) -> BinaryIO:
        try:
            return self._path(blob_id).open("rb")
        except FileNotFoundError:
            metrics.BLOB_STORE_ERRORS.labels("open").inc()  # a stored record's blob is gone
            raise NotFound("No such blob.") from None

    def read(self, blob_id: str) -> Iterator[bytes]:
        with self.open(blob_id) as handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk

    def delete(self, blob_id: str) -> bool:
        try:
            self._path(blob_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def ids(self) -> Iterator[str]:
        """Every stored blob id (for `carnet fsck`); temporary files are not blobs."""
        if not self.root.exists():
            return
        for first in sorted(self.root.iterdir()):
            if first.name == "tmp" or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                for blob in sorted(second.iterdir()):
                    if _valid_id(blob.name):
                        yield blob.name

    def leftovers(self) -> list[Path]:
        """Temporary files of writes that never finished (crash before rename)."""
        return sorted(self.tmp.glob("*.part")) if self.tmp.exists() else []


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:  # pragma: no cover - platform without directory fds
        raise VaultError("Blob directory cannot be synced.") from exc
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
