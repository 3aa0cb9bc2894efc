"""Pure cryptographic formats of the vault (AES-256-GCM, HKDF-SHA256). No I/O, no key storage.

Formats, all versioned by their first bytes:
- wrapped data key:  nonce(12) | AES-GCM(master key, data key, aad)
- sealed field:      0x01 | data-key id(16) | nonce(12) | AES-GCM(data key, plaintext, aad)
- blob:              b"CNB1" | data-key id(16) | salt(16) | segments…
  Each blob gets its own content key, HKDF(data key, salt, aad), so nonces can be a plain segment
  counter. Plaintext is cut into 64 KiB segments, each sealed with nonce = counter(11) | last-flag(1)
  and the header as associated data: segments cannot be reordered, dropped or the blob truncated.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carnet.errors import VaultError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SEGMENT_BYTES = 64 * 1024
FIELD_VERSION = b"\x01"
BLOB_MAGIC = b"CNB1"
BLOB_HEADER_BYTES = len(BLOB_MAGIC) + 16 + 16


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def key_fingerprint(key: bytes) -> str:
    """A public, stable id for a master key (it reveals nothing about the key)."""
    return hashlib.sha256(b"carnet-master-key-id\x00" + key).hexdigest()[:16]


def wrap(master_key: bytes, data_key: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master_key).encrypt(nonce, data_key, aad)


def unwrap(master_key: bytes, wrapped: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(master_key).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except InvalidTag:
        raise VaultError(
            "A data key could not be unwrapped: wrong master key or tampering."
        ) from None


def seal_field(key_id: uuid.UUID, data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    header = FIELD_VERSION + key_id.bytes
    return header + nonce + AESGCM(data_key).encrypt(nonce, plaintext, header + aad)


def field_key_id(sealed: bytes) -> uuid.UUID:
    if len(sealed) < 1 + 16 + NONCE_BYTES + TAG_BYTES or sealed[:1] != FIELD_VERSION:
        raise VaultError("Sealed value has an unknown format.")
    return uuid.UUID(bytes=sealed[1:17])


def open_field(data_key: bytes, sealed: bytes, aad: bytes) -> bytes:
    field_key_id(sealed)
    header, nonce, body = sealed[:17], sealed[17 : 17 + NONCE_BYTES], sealed[17 + NONCE_BYTES :]
    try:
        return AESGCM(data_key).decrypt(nonce, body, header + aad)
    except InvalidTag:
        raise VaultError(
            "Sealed value does not open: wrong key, wrong record or tampering."
        ) from None


def _content_key(data_key: bytes, salt: bytes, aad: bytes) -> AESGCM:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=b"carnet-blob-v1|" + aad
    )
    return AESGCM(hkdf.derive(data_key))


def _segment_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _resegment(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Re-cut arbitrary chunks into full segments, flagging the last one (possibly empty)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) > SEGMENT_BYTES:
            yield bytes(buffer[:SEGMENT_BYTES]), False
            del buffer[:SEGMENT_BYTES]
    yield bytes(buffer), True


def encrypt_stream(
    key_id: uuid.UUID, data_key: bytes, chunks: Iterable[bytes], aad: bytes
) -> Iterator[bytes]:
    """Yield the blob: header first, then one sealed segment per 64 KiB of plaintext."""
    salt = os.urandom(16)
    header = BLOB_MAGIC + key_id.bytes + salt
    aead = _content_key(data_key, salt, aad)
    yield header
    for counter, (segment, last) in enumerate(_resegment(chunks)):
        yield aead.encrypt(_segment_nonce(counter, last), segment, header)


def blob_key_id(header: bytes) -> uuid.UUID:
    if len(header) < BLOB_HEADER_BYTES or header[:4] != BLOB_MAGIC:
        raise VaultError("Blob has an unknown format.")
    return uuid.UUID(bytes=header[4:20])


def decrypt_stream(data_key: bytes, blob: Iterable[bytes], aad: bytes) -> Iterator[bytes]:
    """Yield the plaintext of a blob, verifying every segment and that the last one is present."""
    sealed_bytes = SEGMENT_BYTES + TAG_BYTES
    iterator = iter(blob)
    buffer = bytearray()
    for chunk in iterator:
        buffer += chunk
        if len(buffer) >= BLOB_HEADER_BYTES:
            break
    header = bytes(buffer[:BLOB_HEADER_BYTES])
    blob_key_id(header)
    aead = _content_key(data_key, header[20:36], aad)
    counter = 0
    pending = bytearray(buffer[BLOB_HEADER_BYTES:])
    for chunk in itertools.chain([b""], iterator):
        pending += chunk
        # Keep at least one byte beyond a full segment: only then is that segment surely not last.
        while len(pending) > sealed_bytes:
            yield _open_segment(aead, counter, False, bytes(pending[:sealed_bytes]), header)
            del pending[:sealed_bytes]
            counter += 1
    if len(pending) < TAG_BYTES:
        raise VaultError("Blob is truncated.")
    yield _open_segment(aead, counter, True, bytes(pending), header)


def _open_segment(aead: AESGCM, counter: int, last: bool, segment: bytes, header: bytes) -> bytes:
    try:
        return aead.decrypt(_segment_nonce(counter, last), segment, header)
    except InvalidTag:
        raise VaultError("Blob does not open: wrong key, wrong record or tampering.") from None
