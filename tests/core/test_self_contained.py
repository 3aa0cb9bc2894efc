"""The suite stands on its own (issue 12, item 9): nothing in the build or the tests reads a folder
beside the repository, so `make test` passes on a clone anywhere."""

from __future__ import annotations

import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
# A path built towards the sibling design folder (a parent-relative path to it, or its name as a
# path part).
OUTSIDE = re.compile(r"""(["'(/]\.\./shared)|(/\s*["']shared["'])|(["']\.\.["']\s*/)""")


def _sources() -> list[Path]:
    files = [REPOSITORY / "Makefile", REPOSITORY / "pyproject.toml", REPOSITORY / ".ci" / "run"]
    for folder in ("src", "tests", "bench"):
        files.extend(p for p in (REPOSITORY / folder).rglob("*.py") if "__pycache__" not in p.parts)
    return [p for p in files if p.is_file()]


def test_no_source_reads_beside_the_repository() -> None:
    offenders = []
    for path in _sources():
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(REPOSITORY)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_pattern_catches_the_old_way() -> None:
    """The check above can fail: the way the schema used to be found is caught."""
    sibling = "sha" + "red"  # spelled in two parts so that this file is no such path itself
    assert OUTSIDE.search(f'Path(__file__).parents[2] / ".." / "{sibling}" / "fhir"')
    assert OUTSIDE.search(f'open("../{sibling}/fhir/r4/fhir.schema.json")')
