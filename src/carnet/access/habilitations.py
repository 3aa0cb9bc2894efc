"""The habilitation matrix (ACC-1): which profession reads which sensitivity class.

Shipped as package data (a Carnet default following the published principles) and replaceable by
an operator's file (`CARNET_HABILITATIONS_FILE`). A profession missing from the file reads nothing.
"""

from __future__ import annotations

import csv
import functools
from importlib import resources
from pathlib import Path

from carnet.errors import ConfigurationError

SENSITIVITIES = (
    "general",
    "psy",
    "genetic",
    "medico-social",
    "telemedicine-request",
    "administrative",
)

Matrix = dict[str, frozenset[str]]


def parse(text: str, origin: str) -> Matrix:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "profession_code" not in reader.fieldnames:
        raise ConfigurationError(f"{origin}: a profession_code column is required.")
    unknown = [
        c
        for c in reader.fieldnames
        if c not in (*SENSITIVITIES, "profession_code", "profession_fr")
    ]
    if unknown:
        raise ConfigurationError(f"{origin}: unknown sensitivity column(s): {', '.join(unknown)}.")
    matrix: Matrix = {}
    for row in reader:
        allowed = set()
        for sensitivity in SENSITIVITIES:
            value = (row.get(sensitivity) or "no").strip().lower()
            if value not in ("yes", "no"):
                raise ConfigurationError(
                    f"{origin}: {sensitivity} must be yes or no, got {value!r}."
                )
            if value == "yes":
                allowed.add(sensitivity)
        matrix[row["profession_code"].strip()] = frozenset(allowed)
    return matrix


@functools.cache
def load(path: str | None = None) -> Matrix:
    if path:
        try:
            return parse(Path(path).read_text(encoding="utf-8"), path)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read the habilitation matrix {path}: {exc.strerror}."
            ) from None
    text = resources.files("carnet.access").joinpath("data", "habilitations.csv").read_text("utf-8")
    return parse(text, "habilitations.csv")
