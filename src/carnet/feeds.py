"""What the operators' bulk imports share (roster, reimbursement feed): the rejects file.

Rejects say which line, which field and why, never who: no NIR, name or amount is written there.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from carnet.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Reject:
    """One problem of one line: what the rejects file says. Never carries a NIR or a name."""

    line: int
    field: str
    reason: str


def rejects_path(path: Path) -> Path:
    """Where the rejects of `path` go: `FILE.rejects.csv` next to it."""
    return path.with_name(path.name + ".rejects.csv")


class RejectsWriter:
    """`FILE.rejects.csv` (line, field, reason), written aside and renamed at the end; a stale one
    from an earlier run is removed when this run has no rejects."""

    def __init__(self, source: Path) -> None:
        self.path = rejects_path(source)
        self._temp = self.path.with_name(self.path.name + ".part")
        try:
            self._handle = self._temp.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise InvalidInput(
                f"Cannot write the rejects file {self.path}: {exc.strerror}.",
                code="rejects-unwritable",
            ) from None
        self._writer = csv.writer(self._handle)
        self._writer.writerow(("line", "field", "reason"))
        self.lines = 0

    def write(self, problems: Sequence[Reject]) -> None:
        self._writer.writerows((p.line, p.field, p.reason) for p in problems)
        self.lines += len(problems)

    def finish(self) -> Path | None:
        self._handle.close()
        if self.lines:
            os.replace(self._temp, self.path)
            return self.path
        self._temp.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        return None

    def abort(self) -> None:
        self._handle.close()
        if self.lines:
            os.replace(self._temp, self.path)  # what was found so far is still worth reading
        else:
            self._temp.unlink(missing_ok=True)
