"""What a provisioning run did (the CLI prints it as the summary)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ProvisionReport:
    """What a provisioning run did (the CLI prints it as the summary)."""

    rows: int = 0  # data lines read (blank lines aside)
    created: int = 0  # new spaces, including `closed_deceased`
    closed_deceased: int = 0  # of `created`: recorded closed because deceased (LC-6)
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # lines with at least one problem
    skipped_erased: int = 0  # tombstoned people, not recreated (LC-8)
    emails: int = 0
    letters: int = 0
    deferred: int = 0  # minors retried at the end because their representative came later
    not_utf8: int = 0
    rejects_file: Path | None = None
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        text = (
            f"Roster: {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected"
        )
        extras = []
        if self.closed_deceased:
            extras.append(f"{self.closed_deceased} of the created recorded closed (deceased)")
        if self.skipped_erased:
            extras.append(f"{self.skipped_erased} skipped (space erased, not recreated)")
        if extras:
            text += " (" + "; ".join(extras) + ")"
        return text + "."


ProgressCallback = Callable[[int, int], None]  # (rows read, bytes read), after each batch
