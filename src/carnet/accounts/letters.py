"""Printing the postal notices: pending letters become PDF batch files for the print service.

A notice goes by post when no e-mail address is known (rule LC-1; for a minor, the managing
representative's address, LC-7). The letter's content — it carries the provisional code — is
sealed under a system key. Rendering writes the batch file `DATA_DIR/letters/letters-….pdf`
(temporary file, fsync, rename, mode 0600: it contains codes, names and addresses) and records
into which file each letter went. A rolled-back rendering removes its file; a crash between the
file and the commit leaves one that no letter points at, which the next rendering deletes (its
letters are rendered again: a letter may be printed twice, never lost).

Carnet decision (LC-8, the rules are silent on the printing step): a batch file stays in the data
directory only until the operator confirms the print service has it — `carnet letters printed
FILE` deletes the file and wipes its letters' sealed content. Until then a purge withdraws the
purged person's letters: every unprinted batch holding one is deleted once the purge commits and
its other letters go back to the queue, to be rendered again into a new batch. So no clear copy
of a purged person's name, address or code stays in the data directory, and nobody else's letter
is lost.

One file holds at most `DEFAULT_LIMIT` letters (fpdf2 builds a document in memory); `render_all`
writes as many files as needed, each in its own transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import textwrap
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, event, func, select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import notices
from carnet.accounts.models import PostalLetter
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import InvalidInput, NotFound
from carnet.jobs.service import JobContext, job
from carnet.notifications.service import fsync_directory
from carnet.vault.service import Vault

log = logging.getLogger("carnet.letters")

LETTERS_DIR = "letters"
DEFAULT_LIMIT = 5000
# A batch file no unprinted letter points at is deleted once it is this old: younger, it may be
# the file of a rendering whose transaction has not committed yet.
ORPHAN_GRACE = dt.timedelta(hours=1)
_NEW_FILES = "carnet.letters.new_files"
_DOOMED_FILES = "carnet.letters.doomed_files"
SENDER = ("Carnet - votre espace santé", "Service des espaces santé")

# Page layout (A4, millimetres): the address sits in the window of a DL envelope.
_LEFT = 20.0
_ADDRESS_X = 110.0
_ADDRESS_Y = 50.0
_BODY_Y = 105.0
_BODY_WIDTH = 170.0
_ADDRESS_WIDTH = 85.0
_LINE = 5.5
_MAX_ADDRESS_LINES = 7

# Characters French text uses that latin-1 (the core PDF fonts) lacks.
_REPLACEMENTS = str.maketrans(
    {
        "œ": "oe",
        "Œ": "OE",
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
        "…": "...",
        "€": "EUR",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "\u202f": " ",
        "\u2009": " ",
    }
)


def latin1(text: str) -> str:
    """`text` in the characters the core PDF fonts can draw (latin-1): French accents stay,
    typographic quotes and ligatures are spelled out, other letters lose their accents, and what
    is left becomes "?"."""
    text = text.translate(_REPLACEMENTS)
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


@dataclass
class RenderReport:
    """What a rendering run produced: the batch files and how many letters they hold."""

    files: list[Path] = field(default_factory=list)
    letters: int = 0


class _Pdf:
    """A batch of letters, one A4 page each, with a core font (no font files to ship)."""

    def __init__(self, day_text: str) -> None:
        from fpdf import FPDF  # slow to import: only a rendering run loads it

        self.pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.set_creator("Carnet")
        self.pdf.set_title("Carnet - courriers")
        self.pdf.set_font("Helvetica", size=10)
        self.day_text = day_text

    def _wrap(self, text: str, width: float) -> list[str]:
        lines: list[str] = []
        for paragraph in text.split("\n"):
            columns = 100
            while True:
                wrapped = textwrap.wrap(paragraph, columns, break_long_words=True) or [""]
                if columns <= 20 or all(self.pdf.get_string_width(x) <= width for x in wrapped):
                    break
                columns -= 5
            lines.extend(wrapped)
        return lines

    def add(self, name: str, address: str, body: str) -> None:
        pdf = self.pdf
        pdf.add_page()
        y = 20.0
        for line in SENDER:
            pdf.text(_LEFT, y, latin1(line))
            y += _LINE
        address_lines = [name, *(x.strip() for x in address.split("\n") if x.strip())]
        y = _ADDRESS_Y
        for line in self._wrap(latin1("\n".join(address_lines)), _ADDRESS_WIDTH)[
            :_MAX_ADDRESS_LINES
        ]:
            pdf.text(_ADDRESS_X, y, line)
            y += _LINE
        pdf.text(_LEFT, _BODY_Y - 2 * _LINE, latin1(f"Le {self.day_text}"))
        y = _BODY_Y
        for line in self._wrap(latin1(body), _BODY_WIDTH):
            if y > 285:
                break  # one page per letter; notices are far shorter than a page
            pdf.text(_LEFT, y, line)
            y += _LINE

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _write_private(directory: Path, stem: str, data: bytes) -> Path:
    """Write `data` durably as `directory/stem.pdf` (mode 0600), never replacing a file."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    suffix = 1
    while True:
        target = directory / (f"{stem}.pdf" if suffix == 1 else f"{stem}-{suffix}.pdf")
        if not target.exists():
            break
        suffix += 1
    temp = directory / f".{target.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, target)  # fails instead of replacing a file that appeared meanwhile
        os.unlink(temp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_directory(directory)
    return target


def _render(
    session: Session, vault: Vault, settings: Settings, limit: int
) -> tuple[Path, int] | None:
    rows = session.execute(
        select(PostalLetter.id, PostalLetter.sealed)
        .where(PostalLetter.rendered_at.is_(None), PostalLetter.sealed.is_not(None))
        .order_by(PostalLetter.created_at, PostalLetter.id)
        .limit(limit)
        # A purge withdrawing one of these letters waits for this batch, then sees it (LC-8).
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return None
    now = clock.now()
    pdf = _Pdf(clock.today(settings.timezone).strftime("%d/%m/%Y"))
    ids: list[uuid.UUID] = []
    for letter_id, sealed in rows:
        assert sealed is not None  # selected so
        content = json.loads(
            vault.open_system(session, notices.LETTER_KEY, sealed, notices.letter_aad(letter_id))
        )
        pdf.add(str(content["name"]), str(content.get("address", "")), str(content["body"]))
        ids.append(letter_id)
    directory = settings.data_dir / LETTERS_DIR
    path = _write_private(directory, f"letters-{now.strftime('%Y%m%dT%H%M%S%fZ')}", pdf.output())
    session.info.setdefault(_NEW_FILES, []).append(path)
    batch_file = _batch_file(path.name)
    for start in range(0, len(ids), 1000):
        session.execute(
            update(PostalLetter)
            .where(PostalLetter.id.in_(ids[start : start + 1000]))
            .values(rendered_at=now, batch_file=batch_file)
            .execution_options(synchronize_session=False)
        )
    return path, len(ids)


def render_pending(
    session: Session, vault: Vault, settings: Settings, *, limit: int = DEFAULT_LIMIT
) -> Path | None:
    """Render up to `limit` unrendered letters into one PDF under `DATA_DIR/letters/` and mark
    them rendered (rule LC-1); their sealed content stays until the batch is confirmed printed.
    None when no letter was waiting. The caller commits."""
    done = _render(session, vault, settings, limit)
    return done[0] if done else None


def render_all(
    database: Database, vault: Vault, settings: Settings, *, limit: int = DEFAULT_LIMIT
) -> RenderReport:
    """Render every waiting letter, `limit` per file, one committed transaction per file; first
    delete the batch files no unprinted letter points at any more (crash leftovers, LC-8)."""
    remove_orphans(database, settings)
    report = RenderReport()
    while True:
        with database.transaction() as session:
            done = _render(session, vault, settings, limit)
        if done is None:
            return report
        report.files.append(done[0])
        report.letters += done[1]
        if done[1] < limit:
            return report


@dataclass(frozen=True)
class Batch:
    """A batch file waiting for the operator's confirmation that it was printed."""

    file: str
    letters: int
    rendered_at: dt.datetime


def awaiting_print(session: Session) -> list[Batch]:
    """The batch files rendered but not yet confirmed printed, oldest first (no content)."""
    rows = session.execute(
        select(PostalLetter.batch_file, func.count(), func.min(PostalLetter.rendered_at))
        .where(PostalLetter.batch_file.is_not(None), PostalLetter.printed_at.is_(None))
        .group_by(PostalLetter.batch_file)
        .order_by(func.min(PostalLetter.rendered_at), PostalLetter.batch_file)
    ).all()
    return [Batch(str(name), int(count), first) for name, count, first in rows if first is not None]


def mark_printed(session: Session, settings: Settings, name: str) -> int:
    """The print service has this batch: its letters' sealed content is wiped and the file is
    deleted once this commits (Carnet decision, LC-8). Returns how many letters it held."""
    batch_file = _batch_file(Path(name.strip()).name)
    result = session.execute(
        update(PostalLetter)
        .where(PostalLetter.batch_file == batch_file, PostalLetter.printed_at.is_(None))
        .values(printed_at=clock.now(), sealed=None)
        .execution_options(synchronize_session=False)
    )
    count = int(cast(CursorResult[Any], result).rowcount)
    if count == 0:
        raise NotFound(
            "No letter awaits printing in this file: it was confirmed already, or withdrawn by "
            "an erasure and its letters rendered again into a newer file."
        )
    _delete_after_commit(session, settings.data_dir / batch_file)
    return count


def withdraw_for_holder(session: Session, settings: Settings, holder_id: uuid.UUID) -> int:
    """LC-8, in the purge's transaction: every unprinted batch file holding a letter of the
    holder is deleted once the purge commits, and the batch's other letters go back to the
    queue (they are rendered again into a new file). The holder's own rows go with the holder
    (foreign-key cascade). Returns how many batch files are withdrawn."""
    files = set(
        session.scalars(
            select(PostalLetter.batch_file)
            .where(
                PostalLetter.holder_id == holder_id,
                PostalLetter.batch_file.is_not(None),
                PostalLetter.printed_at.is_(None),
            )
            # Waits for a rendering that holds these rows, then sees the file it wrote.
            .with_for_update()
        )
    )
    for batch_file in sorted(name for name in files if name):
        session.execute(
            update(PostalLetter)
            .where(
                PostalLetter.batch_file == batch_file,
                PostalLetter.printed_at.is_(None),
                PostalLetter.holder_id != holder_id,
            )
            .values(rendered_at=None, batch_file=None)
            .execution_options(synchronize_session=False)
        )
        _delete_after_commit(session, settings.data_dir / batch_file)
    return len(files)


def remove_orphans(
    database: Database, settings: Settings, *, grace: dt.timedelta = ORPHAN_GRACE
) -> int:
    """Delete the batch files (and temporary files) older than `grace` that no unprinted letter
    points at: left by a crash between a commit and the deletion it called for (a purge, a
    printing confirmation) or before a rendering's commit. Returns how many files went."""
    directory = settings.data_dir / LETTERS_DIR
    if not directory.is_dir():
        return 0
    cutoff = time.time() - grace.total_seconds()
    removed = 0
    with database.transaction() as session:
        for path in sorted(directory.iterdir()):
            if not path.is_file() or path.stat().st_mtime > cutoff:
                continue
            temporary = path.name.startswith(".") and path.name.endswith(".tmp")
            if not temporary:
                if path.suffix != ".pdf":
                    continue  # not Carnet's
                if session.scalars(
                    select(PostalLetter.id)
                    .where(
                        PostalLetter.batch_file == _batch_file(path.name),
                        PostalLetter.printed_at.is_(None),
                    )
                    .limit(1)
                ).first():
                    continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    if removed:
        log.warning("orphan letter files deleted", extra={"files": removed})
    return removed


def _batch_file(name: str) -> str:
    """How a letter records its batch: `letters/<file name>`, relative to the data directory."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise InvalidInput("Give the name of a batch file under DATA_DIR/letters/.", field="file")
    return str(Path(LETTERS_DIR) / name)


def _delete_after_commit(session: Session, path: Path) -> None:
    session.info.setdefault(_DOOMED_FILES, []).append(path)


@event.listens_for(Session, "after_commit")
def _delete_doomed_files(session: Session) -> None:
    session.info.pop(_NEW_FILES, None)
    for path in session.info.pop(_DOOMED_FILES, []):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@event.listens_for(Session, "after_rollback")
def _forget_new_files(session: Session) -> None:
    """A rolled-back rendering leaves no batch file; a rolled-back purge deletes none."""
    session.info.pop(_DOOMED_FILES, None)
    for path in session.info.pop(_NEW_FILES, []):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@dataclass(frozen=True)
class Undeliverable:
    """A notice nobody could be sent (no e-mail, no postal address): the operator's to-do."""

    id: uuid.UUID
    holder_id: uuid.UUID
    nir: str
    kind: str
    recorded_at: dt.datetime


def undeliverable(session: Session) -> list[Undeliverable]:
    """The notices recorded undeliverable and not yet handled, oldest first (no content: there
    is none, nothing was sealed)."""
    from carnet.accounts.models import Holder

    rows = session.execute(
        select(PostalLetter.id, PostalLetter.holder_id, Holder.nir, PostalLetter.kind)
        .add_columns(PostalLetter.undeliverable_at)
        .join(Holder, Holder.id == PostalLetter.holder_id)
        .where(PostalLetter.undeliverable_at.is_not(None), PostalLetter.handled_at.is_(None))
        .order_by(PostalLetter.undeliverable_at, PostalLetter.id)
    ).all()
    return [
        Undeliverable(letter_id, holder_id, nir, kind, at)
        for letter_id, holder_id, nir, kind, at in rows
        if at is not None
    ]


def mark_handled(session: Session, letter_id: uuid.UUID) -> None:
    """The operator reached the person another way (or recorded an address and sent the notice
    again): the undeliverable notice leaves the list."""
    row = session.get(PostalLetter, letter_id)
    if row is None or row.undeliverable_at is None:
        raise NotFound("No undeliverable notice with this id.")
    if row.handled_at is None:
        row.handled_at = clock.now()


@job("letters.render", period="daily")
def render_letters(ctx: JobContext) -> str:
    """LC-1: the postal notices queued since the last run go to the printer's batch file; the
    notices nobody could be sent (no address) are reported until an operator handles them."""
    vault = Vault.from_settings(ctx.settings)
    report = render_all(ctx.database, vault, ctx.settings)
    summary = f"{report.letters} letter(s) rendered into {len(report.files)} file(s)"
    with ctx.database.transaction() as session:
        waiting = len(undeliverable(session))
    if waiting:
        summary += f"; {waiting} undeliverable notice(s): see `carnet letters undeliverable`"
    return summary
