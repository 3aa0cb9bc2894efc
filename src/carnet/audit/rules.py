"""Pure functions of the audit log: canonical encoding, chain hashes, Merkle roots (rule ACC-8)."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"


class Mode(enum.StrEnum):
    """How an action was performed (rule ACC-8: normal, emergency, regulation, app…)."""

    NORMAL = "normal"
    EMERGENCY = "emergency"
    REGULATION = "regulation"
    REPRESENTATIVE = "representative"
    CAREGIVER = "caregiver"
    APP = "app"
    OPERATOR = "operator"
    SYSTEM = "system"


def chain_for(holder_id: object | None) -> str:
    """Each space has its own chain; actions outside any space go to the system chain."""
    return f"space:{holder_id}" if holder_id is not None else SYSTEM_CHAIN


def canonical(fields: Mapping[str, Any]) -> bytes:
    """A byte-exact encoding: sorted keys, no spaces, ASCII only."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# What an entry says (who, what, how, why), as opposed to where it sits in its chain. A purged
# space's entries lose these (LC-8) and keep only their content hash, which still chains.
CONTENT_FIELDS = (
    "actor_kind",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "holder_id",
    "mode",
    "reason",
    "detail",
    "request_id",
    "salt",
)
# Where an entry sits: kept after redaction.
FRAME_FIELDS = ("id", "chain", "seq", "at")
SCHEME = 2


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical content. `salt` (16 random bytes, dropped with the content) keeps
    a redacted entry's hash from being matched against guesses (which professional, which act)."""
    return content_digest(canonical(content))


def content_digest(encoded: bytes) -> str:
    """`content_hash` of already-encoded content (bulk writers render it themselves)."""
    return hashlib.sha256(b"carnet-audit-content\n" + encoded).hexdigest()


def framed(frame: Mapping[str, Any], content_digest: str) -> dict[str, Any]:
    """What the chain hash covers besides the previous hash (scheme 2)."""
    return dict(frame, v=SCHEME, content=content_digest)


def entry_hash(prev_hash: str, frame: Mapping[str, Any], content_digest: str) -> str:
    """SHA-256 over the previous hash, the entry's place and its content hash (scheme 2): editing
    any field breaks the content hash, editing the content hash or the place breaks the chain, and
    the chain still verifies once the content itself is gone (ACC-8, LC-8)."""
    return chain_digest(prev_hash, canonical(framed(frame, content_digest)))


def chain_digest(prev_hash: str, encoded: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + encoded).hexdigest()


def legacy_entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """Scheme 1 (entries written before content hashes): SHA-256 over the previous hash and every
    field at once. Still verified as written; such an entry cannot be rechecked once redacted."""
    return chain_digest(prev_hash, canonical(fields))


def merkle_root(leaves: Sequence[Sequence[Any]]) -> str:
    """Root of a binary Merkle tree over canonical leaves (odd nodes are promoted)."""
    level = [hashlib.sha256(b"\x00" + canonical({"leaf": list(leaf)})).digest() for leaf in leaves]
    if not level:
        return hashlib.sha256(b"\x00empty").hexdigest()
    while len(level) > 1:
        paired: list[bytes] = []
        for index in range(0, len(level), 2):
            if index + 1 < len(level):
                paired.append(hashlib.sha256(b"\x01" + level[index] + level[index + 1]).digest())
            else:
                paired.append(level[index])
        level = paired
    return level[0].hex()


def checkpoint_message(
    checkpoint_id: int, at: str, root: str, prev_hash: str, key_id: str
) -> bytes:
    """What a checkpoint signature covers."""
    return canonical(
        {"id": checkpoint_id, "at": at, "root": root, "prev": prev_hash, "key": key_id}
    )


def checkpoint_hash(message: bytes, signature: str) -> str:
    return hashlib.sha256(message + b"\n" + signature.encode("ascii")).hexdigest()
