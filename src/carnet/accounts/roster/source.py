"""Reading a roster file: CSV with a header or NDJSON, streamed through `carnet.feeds.FileSource`
(rule ID-1; the format is in `docs/formats/roster.md`)."""

from __future__ import annotations

from pathlib import Path

from carnet.accounts.roster.rows import COLUMNS, REQUIRED_FIELDS
from carnet.feeds import FileSource, Layout

LAYOUT = Layout(what="roster", code="roster-unreadable", columns=COLUMNS, required=REQUIRED_FIELDS)
MAX_LINE_BYTES = 1 << 20  # an NDJSON line longer than this is a reject, not a memory spike


def open_roster(path: Path) -> FileSource:
    """Open a roster for streaming; InvalidInput (exit 1) when the file itself is unusable
    (missing, a directory, empty, no usable header)."""
    return FileSource(path, LAYOUT, MAX_LINE_BYTES)
