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
from carnet.accounts import purge as purge_service
from carnet.accounts.models import Holder, PostalLetter
from carnet.accounts.roster.provision import provision
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput, NotFound
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


def test_lc1_render_pending_one_page_per_letter_private_file(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, session: Session
) -> None:
    """LC-1: the letters queued for people without e-mail become one PDF batch (one page each,
    mode 0600, the code printed); their sealed content waits for the printing confirmation;
    a second run has nothing to do."""
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
        assert letter.sealed is not None and letter.printed_at is None
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


def _queue_and_render(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, count: int
) -> tuple[list[dict[str, str]], Path]:
    rows = [person(email="") for _ in range(count)]
    _queue_letters(tmp_path, database, vault, settings, rows)
    report = letters.render_all(database, vault, settings)
    assert len(report.files) == 1
    return rows, report.files[0]


def test_lc8_a_batch_confirmed_printed_is_deleted_and_its_letters_wiped(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-8 (Carnet decision): once the print service has a batch, no clear copy of it stays in
    the data directory and the letters' sealed codes are wiped; a second confirmation is refused."""
    _rows, path = _queue_and_render(tmp_path, database, vault, settings, 2)
    with database.transaction() as session:
        assert [(b.file, b.letters) for b in letters.awaiting_print(session)] == [
            (f"letters/{path.name}", 2)
        ]
        assert letters.mark_printed(session, settings, str(path)) == 2
        assert path.exists()  # deleted only once the confirmation commits
    assert not path.exists()
    with database.transaction() as session:
        assert letters.awaiting_print(session) == []
        for letter in session.scalars(select(PostalLetter)):
            assert letter.sealed is None and letter.printed_at is not None
        with pytest.raises(NotFound):
            letters.mark_printed(session, settings, path.name)
        with pytest.raises(NotFound):  # only a file name under letters/ is ever looked at
            letters.mark_printed(session, settings, "../master.key")
        with pytest.raises(InvalidInput):
            letters.mark_printed(session, settings, " ")


def test_lc8_purge_withdraws_the_unprinted_batch_and_requeues_the_other_letters(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-8: a purged person's name, address and code do not stay in a batch waiting for the
    print service; the other letters of that batch are rendered again, none is lost."""
    rows, path = _queue_and_render(tmp_path, database, vault, settings, 3)
    gone = rows[1]
    with database.transaction() as session:
        holder = session.scalars(select(Holder).where(Holder.nir == gone["nir"])).one()
        holder.state = rules.CLOSED  # an opposed or closed space, its archive time over (LC-5)
        purge_service.purge(session, vault, settings, holder)
    assert not path.exists()
    with database.transaction() as session:
        letters_left = session.scalars(select(PostalLetter)).all()
        assert len(letters_left) == 2
        assert all(x.rendered_at is None and x.batch_file is None for x in letters_left)
    report = letters.render_all(database, vault, settings)
    assert report.letters == 2
    pages, texts = _pdf_text(report.files[0])
    joined = "\n".join(texts)
    assert pages == 2
    assert gone["birth_name"] not in joined
    assert rows[0]["birth_name"] in joined and rows[2]["birth_name"] in joined
    assert [p.name for p in (settings.data_dir / "letters").iterdir()] == [report.files[0].name]


def test_lc8_a_rolled_back_purge_keeps_the_batch(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """The batch goes only if the purge commits: a failed purge loses nobody's letter."""
    rows, path = _queue_and_render(tmp_path, database, vault, settings, 2)
    with pytest.raises(RuntimeError), database.transaction() as session:
        holder = session.scalars(select(Holder).where(Holder.nir == rows[0]["nir"])).one()
        holder.state = rules.CLOSED  # an opposed or closed space, its archive time over (LC-5)
        purge_service.purge(session, vault, settings, holder)
        raise RuntimeError("the purge fails before its commit")
    assert path.exists()
    with database.transaction() as session:
        assert [b.letters for b in letters.awaiting_print(session)] == [2]


def test_orphan_batch_files_are_deleted_by_the_next_rendering(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    """A crash between a commit and the file deletion it called for (purge, confirmation) or
    before a rendering's commit leaves a file no unprinted letter points at: it goes (LC-8),
    once older than the grace that protects a rendering still in its transaction."""
    _rows, kept = _queue_and_render(tmp_path, database, vault, settings, 1)
    directory = settings.data_dir / "letters"
    orphan = directory / "letters-20260101T000000000000Z.pdf"
    orphan.write_bytes(b"%PDF-1.4 a name and a code")
    temporary = directory / ".letters-x.pdf.0123.tmp"
    temporary.write_bytes(b"half a batch")
    foreign = directory / "README.txt"
    foreign.write_text("the operator's own note")
    assert letters.remove_orphans(database, settings) == 0  # too young yet
    assert letters.remove_orphans(database, settings, grace=dt.timedelta(0)) == 2
    assert sorted(p.name for p in directory.iterdir()) == sorted([kept.name, foreign.name])


def test_a_rolled_back_rendering_leaves_no_file(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings
) -> None:
    _queue_letters(tmp_path, database, vault, settings, [person(email="")])
    with pytest.raises(RuntimeError), database.transaction() as session:
        assert letters.render_pending(session, vault, settings) is not None
        raise RuntimeError("the commit never happens")
    assert list((settings.data_dir / "letters").iterdir()) == []


def test_cli_letters_list_and_printed(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, run_cli: Any
) -> None:
    """`carnet letters list` shows the batches awaiting print (no content); `carnet letters
    printed FILE` confirms one and deletes it; an unknown file exits with an error."""
    rows, path = _queue_and_render(tmp_path, database, vault, settings, 1)
    status, out, err = run_cli("letters", "list")
    assert status == 0, err
    assert f"letters/{path.name}  letters=1" in out
    assert rows[0]["birth_name"] not in out
    status, out, err = run_cli("letters", "printed", str(path))
    assert status == 0, err
    assert f"{path.name} confirmed printed (1 letter(s))" in out
    assert not path.exists()
    status, out, _err = run_cli("letters", "list")
    assert "no batch awaits printing" in out
    status, _out, err = run_cli("letters", "printed", path.name)
    assert status != 0 and "No letter awaits printing" in err
