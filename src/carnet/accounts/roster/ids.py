"""Time-ordered ids for what a roster run creates (UUID version 7, RFC 9562).

Why not the random (version 4) ids used elsewhere: a roster run inserts up to millions of spaces,
and each new space's id is the key of half a dozen indexes — the holders' primary key, the audit
entry's chain (`space:<id>`) and holder index, the chain head, the codes', notices' and letters'
holder index. Random keys land on random pages of those indexes: once they outgrow the page cache,
every insert reads and rewrites a different page, and the run slows down as the tables grow.
Ids that grow with time are appended at the right edge of every such index instead, whatever its
size. The price is that an id tells when the space was created (to the millisecond), which the
holder row says anyway (`created_at`); 62 bits stay random, so ids remain unguessable.

Within one call the ids are strictly increasing (a 12-bit counter in `rand_a`, RFC 9562 method 1,
on top of the millisecond clock); a call asking for more than 4,096 ids moves on to the next
millisecond values, so order holds across calls in the same process as long as the clock does not
go back.
"""

from __future__ import annotations

import os
import threading
import time

_COUNTER = 1 << 12
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))  # RFC 9562 variant bits
_lock = threading.Lock()
_last_ms = 0


def ordered_ids(count: int) -> list[str]:
    """`count` version 7 UUIDs in canonical text form, strictly increasing, later than any id
    this process made before."""
    global _last_ms
    if count <= 0:
        return []
    with _lock:
        start = max(time.time_ns() // 1_000_000, _last_ms + 1)
        _last_ms = start + (count - 1) // _COUNTER
    raw = bytearray(os.urandom(8 * count))
    raw[0::8] = raw[0::8].translate(_VARIANT)
    tail = raw.hex()
    ids: list[str] = []
    for first in range(0, count, _COUNTER):
        ms = f"{start + first // _COUNTER:012x}"
        head = f"{ms[:8]}-{ms[8:]}-7"
        ids.extend(
            f"{head}{n:03x}-{tail[16 * (first + n) : 16 * (first + n) + 4]}-"
            f"{tail[16 * (first + n) + 4 : 16 * (first + n) + 16]}"
            for n in range(min(_COUNTER, count - first))
        )
    return ids
