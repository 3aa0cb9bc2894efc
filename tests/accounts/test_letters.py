"""Postal notices rendered to PDF (`carnet letters render`): rules LC-1, LC-7."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import letters, notices, rules
from carnet.accounts.models import PostalLetter
from carnet.accounts.provisioning import provision
from carnet.config import Settings
from carnet.db import Database
from carnet.jobs.service import JobContext, registered_jobs
from carnet.vault.service import Vault
from tests.accounts.test_provisioning import minor, person, write_csv

CODE_RE = re.compile(r"Code provisoire : ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with clock.frozen_at(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)):
        yield


def _queue_letters(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, rows: list[dict[str, str]]
) -> dict[str, str]:
    """Provision `rows`; returns {holder's first names: formatted code} of the queued letters."""
    provision(database, vault, settings, write_csv(tmp_path / "roster.csv", rows))
    codes: dict[str, str] = {}
    with database.transaction() as session:
        for letter in session.scalars(select(PostalLetter)):
            assert letter.sealed is not None
            content = json.loads(
                vault.open_system(
                    session, notices.LETTER_KEY, letter.sealed, notices.letter_aad(letter.id)
                )
            )
            match = CODE_RE.search(content["body"])
            assert match
            first = content["body"].split("au nom de ")[1].split(" ")[0]
            codes[first] = match.group(1)
    return codes


def _pdf_text(path: Path) -> tuple[int, list[str]]:
    reader = PdfReader(path)
    return len(reader.pages), [page.extract_text() for page in reader.pages]


def test_lc1_render_pending_one_page_per_letter_private_file_sealed_wiped(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-1: the letters queued for people without e-mail become one PDF batch (one page each,
    mode 0600, the code printed); their sealed content is wiped; a second run has nothing to do."""
    parent = person(email="", postal_address="12 avenue Foch, 75116 Paris")
    rows = [person(email=""), person(email=""), person(), parent, minor(parent)]
    codes = _queue_letters(tmp_path, database, vault, settings, rows)
    assert len(codes) == 4
    path = letters.render_pending(session, vault, settings)
    session.commit()
    assert path is not None and path.parent == settings.data_dir / "letters"
    assert re.fullmatch(r"letters-\d{8}T\d{12}Z\.pdf", path.name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pages, texts = _pdf_text(path)
    assert pages == 4
    joined = "\n".join(texts)
    for code in codes.values():
        assert code in joined
    # LC-7: the minor's letter is addressed to the representative.
    minor_page = next(t for t in texts if rows[4]["first_names"] in t.split("au nom de")[1])
    assert parent["birth_name"] in minor_page.split("au nom de")[0]
    assert "12 avenue Foch" in minor_page
    for letter in session.scalars(select(PostalLetter)):
        assert letter.sealed is None
        assert letter.rendered_at is not None
        assert letter.batch_file == f"letters/{path.name}"
    assert letters.render_pending(session, vault, settings) is None
    assert list((settings.data_dir / "letters").iterdir()) == [path]  # no temporary file left


def test_render_all_splits_large_batches(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """Letters are rendered `limit` per file (memory stays bounded), each file committed."""
    _queue_letters(tmp_path, database, vault, settings, [person(email="") for _ in range(5)])
    report = letters.render_all(database, vault, settings, limit=2)
    assert report.letters == 5 and len(report.files) == 3
    assert [_pdf_text(p)[0] for p in report.files] == [2, 2, 1]
    assert len({p.name for p in report.files}) == 3
    assert letters.render_all(database, vault, settings).letters == 0


def test_text_outside_latin1_is_transliterated(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """The core PDF fonts draw latin-1: French accents stay, œ and typographic quotes are spelled
    out, other scripts become "?" — the letter is printed rather than lost."""
    assert letters.latin1("Zoé Œdipe l’été…") == "Zoé OEdipe l'été..."
    assert letters.latin1("Łukasz Ščepan 王") == "Lukasz Scepan ?"
    row = person(email="", first_names="Zoé", birth_name="CŒUR", postal_address="1 rue 王, Paris")
    _queue_letters(tmp_path, database, vault, settings, [row])
    path = letters.render_pending(session, vault, settings)
    assert path is not None
    _pages, texts = _pdf_text(path)
    assert "Zoé COEUR" in texts[0] and "1 rue ?, Paris" in texts[0]


def test_cli_letters_render_and_provision_renders_its_letters(
    tmp_path: Path, run_cli: Any, settings: Settings
) -> None:
    """`carnet provision` renders the waiting letters after its summary unless --no-letters;
    `carnet letters render` does it on demand."""
    path = write_csv(tmp_path / "a.csv", [person(email=""), person()])
    status, out, err = run_cli("provision", str(path))
    assert status == 0, err
    assert out.index("Roster: 2 created") < out.index("Letters: 1 rendered into")
    assert len(list((settings.data_dir / "letters").glob("*.pdf"))) == 1
    path = write_csv(tmp_path / "b.csv", [person(email="")])
    status, out, _err = run_cli("provision", str(path), "--no-letters")
    assert status == 0 and "Letters:" not in out
    status, out, _err = run_cli("letters", "render")
    assert status == 0 and "Letters: 1 rendered into" in out
    status, out, _err = run_cli("letters", "render")
    assert status == 0 and "Letters: none waiting." in out


def test_daily_letters_job(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-1: the daily job `letters.render` prints what was queued since the last run."""
    assert "letters.render" in {j.name for j in registered_jobs()}
    _queue_letters(tmp_path, database, vault, settings, [person(email=""), person(email="")])
    context = JobContext(
        database=database, settings=settings, as_of=dt.date(2026, 3, 2), now=clock.now()
    )
    assert letters.render_letters(context) == "2 letter(s) rendered into 1 file(s)"
    assert letters.render_letters(context) == "0 letter(s) rendered into 0 file(s)"


def test_code_format_on_letters_matches_rules() -> None:
    assert CODE_RE.fullmatch(f"Code provisoire : {rules.format_code('ACDEFGHJKMNP')}")
