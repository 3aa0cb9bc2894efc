"""The vault's pure formats (rule LC-8: health data is only ever at rest encrypted).

Sealed fields and blobs must round-trip, and any change to a ciphertext (a flipped byte, a dropped,
cut or moved segment, a ciphertext presented for another record or holder) must refuse to open
rather than yield wrong plaintext.
"""

from __future__ import annotations

import itertools
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.errors import VaultError
from carnet.vault import crypto
from carnet.vault.crypto import BLOB_HEADER_BYTES, SEGMENT_BYTES, TAG_BYTES

KEY_ID = uuid.UUID("0f2c8a52-7a1e-4f0e-9d55-5c7c1c1b9a01")
KEY = bytes(range(32))
AAD = b"holder-a|record-1|document"
SEALED_SEGMENT = SEGMENT_BYTES + TAG_BYTES

# No example database: nothing is written into the working tree.
pure = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _blob(plaintext: bytes, chunks: list[bytes] | None = None, aad: bytes = AAD) -> list[bytes]:
    """The blob as the pieces encrypt_stream yields (header first, then one piece per segment)."""
    return list(
        crypto.encrypt_stream(KEY_ID, KEY, chunks if chunks is not None else [plaintext], aad)
    )


def _open(blob: bytes | list[bytes], aad: bytes = AAD, key: bytes = KEY) -> bytes:
    pieces = [blob] if isinstance(blob, bytes) else blob
    return b"".join(crypto.decrypt_stream(key, pieces, aad))


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def _pseudo_random(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# -- sealed fields -------------------------------------------------------------------------------


@pure
@given(plaintext=st.binary(max_size=4096), aad=st.binary(max_size=128))
def test_a_sealed_field_opens_to_its_plaintext(plaintext: bytes, aad: bytes) -> None:
    sealed = crypto.seal_field(KEY_ID, KEY, plaintext, aad)
    assert crypto.field_key_id(sealed) == KEY_ID
    assert crypto.open_field(KEY, sealed, aad) == plaintext


def test_sealing_twice_gives_different_ciphertexts() -> None:
    """A random nonce per seal: equal values do not show as equal ciphertexts."""
    assert crypto.seal_field(KEY_ID, KEY, b"A+", AAD) != crypto.seal_field(KEY_ID, KEY, b"A+", AAD)


def test_every_byte_of_a_sealed_field_is_protected() -> None:
    sealed = crypto.seal_field(KEY_ID, KEY, b"allergy: penicillin", AAD)
    for position in range(len(sealed)):
        with pytest.raises(VaultError):
            crypto.open_field(KEY, _flip(sealed, position), AAD)


def test_a_sealed_field_does_not_open_for_another_record_or_key() -> None:
    sealed = crypto.seal_field(KEY_ID, KEY, b"blood group A+", AAD)
    with pytest.raises(VaultError, match="wrong record"):
        crypto.open_field(KEY, sealed, b"holder-a|record-2|document")
    with pytest.raises(VaultError):
        crypto.open_field(KEY, sealed, b"holder-b|record-1|document")
    with pytest.raises(VaultError):
        crypto.open_field(crypto.new_key(), sealed, AAD)


def test_a_truncated_or_foreign_field_is_an_unknown_format() -> None:
    sealed = crypto.seal_field(KEY_ID, KEY, b"", AAD)
    with pytest.raises(VaultError, match="unknown format"):
        crypto.field_key_id(sealed[:-1])
    with pytest.raises(VaultError, match="unknown format"):
        crypto.open_field(KEY, b"\x02" + sealed[1:], AAD)


# -- blobs: round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES],
    ids=["empty", "1", "65535", "65536", "65537", "3x65536"],
)
def test_a_blob_round_trips_at_segment_boundaries(size: int) -> None:
    plaintext = _pseudo_random(size, seed=size)
    blob = _blob(plaintext)
    segments = max(1, -(-size // SEGMENT_BYTES))
    assert blob[0][:4] == b"CNB1"
    assert len(blob[0]) == BLOB_HEADER_BYTES
    assert len(blob) == 1 + segments
    assert sum(map(len, blob)) == BLOB_HEADER_BYTES + size + segments * TAG_BYTES
    assert crypto.blob_key_id(blob[0]) == KEY_ID
    assert _open(blob) == plaintext
    assert _open(b"".join(blob)) == plaintext


@st.composite
def _chunked(draw: st.DrawFn, max_size: int = 3 * SEGMENT_BYTES + 17) -> tuple[bytes, list[bytes]]:
    """Some plaintext and an arbitrary way of cutting it into chunks (empty chunks included)."""
    size = draw(
        st.one_of(
            st.integers(0, max_size),
            st.sampled_from([0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1]),
        )
    )
    plaintext = _pseudo_random(size, seed=draw(st.integers(0, 2**32)))
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=12)))
    bounds = [0, *cuts, size]
    return plaintext, [plaintext[a:b] for a, b in itertools.pairwise(bounds)]


def _recut(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(pure, max_examples=40)
@given(written=_chunked(), read_cuts=st.lists(st.integers(0, 2**20), max_size=12))
def test_how_plaintext_and_ciphertext_are_chunked_does_not_matter(
    written: tuple[bytes, list[bytes]], read_cuts: list[int]
) -> None:
    plaintext, chunks = written
    blob = b"".join(_blob(plaintext, chunks))
    # Same layout as if the plaintext had come in one piece: segments depend on the bytes only.
    assert [len(p) for p in _blob(plaintext, chunks)] == [len(p) for p in _blob(plaintext)]
    assert _open(_recut(blob, read_cuts)) == plaintext


# -- blobs: tampering ----------------------------------------------------------------------------

SMALL_PLAINTEXT = b"CR consultation: patient reports chest pain"
SMALL_BLOB = b"".join(_blob(SMALL_PLAINTEXT))
LARGE_PLAINTEXT = _pseudo_random(2 * SEGMENT_BYTES + 100, seed=7)
LARGE_BLOB = b"".join(_blob(LARGE_PLAINTEXT))


def test_every_byte_of_a_small_blob_is_protected() -> None:
    """Magic, key id, salt, nonce-less segment body and tag: no byte can change unnoticed."""
    for position in range(len(SMALL_BLOB)):
        with pytest.raises(VaultError):
            _open(_flip(SMALL_BLOB, position))


def _segment_edges() -> list[int]:
    edges = list(range(BLOB_HEADER_BYTES))
    start = BLOB_HEADER_BYTES
    while start < len(LARGE_BLOB):
        end = min(start + SEALED_SEGMENT, len(LARGE_BLOB))
        edges += [start, start + 1, end - TAG_BYTES - 1, end - TAG_BYTES, end - 1]
        start = end
    return sorted(set(edges))


@pytest.mark.parametrize("position", _segment_edges())
def test_header_and_segment_edges_of_a_large_blob_are_protected(position: int) -> None:
    with pytest.raises(VaultError):
        _open(_flip(LARGE_BLOB, position))


@settings(pure, max_examples=60)
@given(position=st.integers(0, len(LARGE_BLOB) - 1))
def test_any_byte_of_a_large_blob_is_protected(position: int) -> None:
    with pytest.raises(VaultError):
        _open(_flip(LARGE_BLOB, position))


def test_dropping_the_last_segment_is_detected() -> None:
    """The segment before it was sealed as "not last": the blob cannot be silently shortened."""
    pieces = _blob(LARGE_PLAINTEXT)
    assert len(pieces) == 4
    with pytest.raises(VaultError):
        _open(pieces[:-1])
    with pytest.raises(VaultError):
        _open(pieces[:-2])
    with pytest.raises(VaultError):
        _open(pieces[:1])


def test_dropping_a_full_last_segment_is_detected() -> None:
    """Exactly two full segments: without the second, the first is still a complete segment."""
    pieces = _blob(_pseudo_random(2 * SEGMENT_BYTES, seed=3))
    assert [len(p) for p in pieces[1:]] == [SEALED_SEGMENT, SEALED_SEGMENT]
    with pytest.raises(VaultError):
        _open(pieces[:-1])


@settings(pure, max_examples=60)
@given(cut=st.integers(0, len(LARGE_BLOB) - 1))
def test_cutting_a_blob_anywhere_is_detected(cut: int) -> None:
    with pytest.raises(VaultError):
        _open(LARGE_BLOB[:cut])


def test_cutting_at_the_header_or_inside_it_is_detected() -> None:
    for cut in (
        0,
        1,
        4,
        BLOB_HEADER_BYTES - 1,
        BLOB_HEADER_BYTES,
        BLOB_HEADER_BYTES + TAG_BYTES - 1,
    ):
        with pytest.raises(VaultError):
            _open(SMALL_BLOB[:cut])


def test_appending_bytes_to_a_blob_is_detected() -> None:
    with pytest.raises(VaultError):
        _open(SMALL_BLOB + b"\x00")
    with pytest.raises(VaultError):
        _open(LARGE_BLOB + LARGE_BLOB[-TAG_BYTES:])


def test_swapping_two_segments_is_detected() -> None:
    pieces = _blob(_pseudo_random(3 * SEGMENT_BYTES + 1, seed=5))
    header, first, second, *rest = pieces
    assert len(first) == len(second) == SEALED_SEGMENT
    with pytest.raises(VaultError):
        _open([header, second, first, *rest])


def test_a_segment_from_another_blob_is_rejected() -> None:
    """Each blob has its own content key: same key, same aad, same position is still refused."""
    ours = _blob(LARGE_PLAINTEXT)
    theirs = _blob(LARGE_PLAINTEXT)
    with pytest.raises(VaultError):
        _open([ours[0], theirs[1], *ours[2:]])


def test_a_blob_does_not_open_for_another_record_holder_or_key() -> None:
    with pytest.raises(VaultError, match="wrong record"):
        _open(SMALL_BLOB, aad=b"holder-a|record-2|document")
    with pytest.raises(VaultError):
        _open(SMALL_BLOB, aad=b"holder-b|record-1|document")
    with pytest.raises(VaultError):
        _open(SMALL_BLOB, aad=b"holder-a|record-1|thumbnail")
    with pytest.raises(VaultError):
        _open(SMALL_BLOB, key=crypto.new_key())


def test_a_blob_is_not_readable_in_clear() -> None:
    assert SMALL_PLAINTEXT not in SMALL_BLOB
    assert b"chest pain" not in SMALL_BLOB


# -- wrapping data keys --------------------------------------------------------------------------


def test_a_wrapped_data_key_opens_only_with_its_master_key_and_binding() -> None:
    master, data_key = crypto.new_key(), crypto.new_key()
    wrapped = crypto.wrap(master, data_key, b"holder-a")
    assert data_key not in wrapped
    assert crypto.unwrap(master, wrapped, b"holder-a") == data_key
    with pytest.raises(VaultError, match="master key"):
        crypto.unwrap(crypto.new_key(), wrapped, b"holder-a")
    with pytest.raises(VaultError):
        crypto.unwrap(master, wrapped, b"holder-b")


def test_key_fingerprint_is_stable_public_and_distinct() -> None:
    a, b = crypto.new_key(), crypto.new_key()
    assert crypto.key_fingerprint(a) == crypto.key_fingerprint(a)
    assert crypto.key_fingerprint(a) != crypto.key_fingerprint(b)
    assert len(crypto.key_fingerprint(a)) == 16
    assert a.hex()[:16] not in crypto.key_fingerprint(a)
