"""The examples of docs/fhir.md and docs/formats/*.md run as written, on the demo data (issue 16),
so the docs cannot drift from Carnet: every fenced block is `sh` (run), `csv`/`json` (the input
files the commands name) or `text` (output shown, not run).

The FHIR block runs in bash against a live server on 127.0.0.1 (its URL replacing the
`http://127.0.0.1:8000` of `make run`), with the real curl and jq, `carnet` being this checkout's
command line; every curl must answer 2xx. The formats' commands run through `carnet` in process.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from carnet.accounts import passwords
from carnet.db import Database
from carnet.demo import service as demo
from carnet.documents.models import Document
from tests.fhir.support import pdf, provide_bundle
from tests.portal.browser import live_server

DOCS = Path(__file__).resolve().parents[2] / "docs"
FHIR_DOC = DOCS / "fhir.md"
FORMAT_DOCS = sorted((DOCS / "formats").glob("*.md"))
LANGUAGES = {"sh", "csv", "json", "text"}
MAKE_RUN_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    language: str
    text: str


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file."""
    found: list[Block] = []
    opened: tuple[int, str] | None = None
    lines: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = re.match(r"^```(\S*)\s*$", line)
        if fence and opened is None:
            opened, lines = (number, fence.group(1)), []
        elif line.startswith("```") and opened is not None:
            found.append(Block(opened[0], opened[1], "\n".join(lines) + "\n"))
            opened = None
        elif opened is not None:
            lines.append(line)
    assert opened is None, f"{path.name}: a block opened on line {opened[0]} is not closed"
    return found


@pytest.fixture
def demo_world(database: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The demo world of `make run` (without its documents). Its accounts' passwords are hashed
    with argon2id at test-sized parameters: no example logs in by password, and the library's
    recommended cost, 13 times over, would take most of the test on a busy machine."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    with database.transaction() as session:
        demo.load(session)
    return database


def test_every_block_is_run_fed_or_marked_as_output() -> None:
    for path in [FHIR_DOC, *FORMAT_DOCS]:
        for block in blocks(path):
            assert block.language in LANGUAGES, f"{path.name}:{block.line}: ```{block.language}"
    assert [b.language for b in blocks(FHIR_DOC)] == ["sh"]


def test_the_fhir_examples_run_against_a_live_server_on_the_demo_data(
    app, demo_world: Database, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    (example,) = blocks(FHIR_DOC)
    nir = re.search(r"^NIR=(\d+)$", example.text, re.M)
    rpps = re.search(r"^RPPS=(\d+)$", example.text, re.M)
    assert nir and rpps, "the example defines NIR and RPPS"
    content = pdf("Bilan sanguin")
    (tmp_path / "bilan.pdf").write_bytes(content)
    bundle = provide_bundle(nir.group(1), rpps.group(1), [pdf("Compte rendu")])
    (tmp_path / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    shims = tmp_path / "bin"
    shims.mkdir()
    carnet = shims / "carnet"
    carnet.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m carnet.cli "$@"\n', encoding="utf-8")
    carnet.chmod(carnet.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    with live_server(app) as url:
        script = (
            "set -euo pipefail\nshopt -s inherit_errexit\n"
            'curl() { command curl --fail-with-body "$@"; }\n'  # an HTTP error fails the run
            + example.text.replace(MAKE_RUN_URL, url)
        )
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=240, check=False,
        )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr}\n{done.stdout[-2000:]}"
    assert (tmp_path / "document.pdf").read_bytes() == content
    assert (tmp_path / "head.bin").read_bytes() == content[:1024]
    assert '"resourceType":"CapabilityStatement"' in done.stdout.replace(" ", "")
    with demo_world.transaction() as session:
        statuses = session.scalars(select(Document.status)).all()
    assert "entered-in-error" in statuses  # the withdrawal at the end did change the document


def _commands(block: Block) -> list[list[str]]:
    """The `carnet …` command lines of a shell block, comments dropped."""
    found = []
    for line in block.text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "carnet", line
            found.append(words[1:])
    return found


@pytest.mark.parametrize("path", FORMAT_DOCS, ids=[p.stem for p in FORMAT_DOCS])
def test_the_format_examples_run_on_the_demo_data(
    run_cli, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Path  # type: ignore[no-untyped-def]
) -> None:
    """Each command of the doc runs (exit 0, nothing rejected); a file it names is the doc's
    sample of that format (the first `csv` block for a .csv, the `json` block for NDJSON)."""
    found = blocks(path)
    if not any(b.language == "sh" for b in found):
        return  # nothing to run (xdm.md describes its options in prose)
    request.getfixturevalue("demo_world")
    monkeypatch.chdir(tmp_path)
    samples = {b.language: b.text for b in reversed(found) if b.language in ("csv", "json")}
    ran = 0
    for block in (b for b in found if b.language == "sh"):
        for args in _commands(block):
            for arg in args:
                if arg.endswith(".csv") and not Path(arg).exists():
                    Path(arg).write_text(samples["csv"], encoding="utf-8")
            status, out, err = run_cli(*args)
            assert status == 0, f"{path.name}:{block.line}: carnet {' '.join(args)}\n{err}"
            out = " ".join(out.split())  # as read, whatever the terminal's width
            assert " 0 rejected" in out or "rejected" not in out, out
            ran += 1
    if "json" in samples:  # the NDJSON sample is a roster of its own
        Path("sample.ndjson").write_text(samples["json"], encoding="utf-8")
        status, out, err = run_cli("provision", "sample.ndjson", "--no-letters")
        assert status == 0 and " 0 rejected" in " ".join(out.split()), err
    assert ran > 0
