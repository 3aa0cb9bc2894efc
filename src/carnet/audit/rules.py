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


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical entry: editing any field breaks the chain."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(fields)).hexdigest()


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
