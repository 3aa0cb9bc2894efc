"""The DMP migration of IHE XDM media (issue 14): documents/s of `carnet import-dmp`.

A medium is built first (not counted): `CARNET_BENCH_XDM_DOCUMENTS` documents (2,000) over
`CARNET_BENCH_XDM_HOLDERS` holders (50), one submission set each, half plain PDFs of 50 to 100 KB
and half CDA R2 level-1 documents wrapping such a PDF, in a deflated ZIP, with the metadata of the
tests' XDM builder (tests/documents/xdm_factory.py). The import then runs as the command runs it,
in process (`migration.Migration` scan + run, then the CSV report), on SQLite.

The raw baseline, measured in the same run: read the same members out of the same ZIP, SHA-1 +
SHA-256, AES-256-GCM, write + fsync + rename + directory fsync, by as many threads as Carnet's
writer threads (`migration.WRITERS`), and one row per document in an SQLite table (WAL,
synchronous=FULL), committed in groups of `migration.BATCH_DOCUMENTS` documents, the grouping
Carnet uses (1 and 1 for a Carnet without them: one thread, a commit per document). The CPU time
of the import per document is printed too: it moves less than the rate on a shared machine.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tests.documents.xdm_factory import make_cda, medium_for

from bench.common import compare, world
from bench.documents import _pdf
from carnet.accounts.models import Holder
from carnet.accounts.rules import make_nir
from carnet.documents import migration

SIZES = (50, 60, 70, 80, 90, 100)  # KB
_MARK = b"XDMBENCH"  # as long as the word it replaces, and as the 8 digits replacing it


def _base_pdfs() -> list[bytes]:
    """One uncompressed PDF per size, holding a fixed-width mark made unique per document."""
    out = []
    for kb in SIZES:
        out.append(_pdf(kb * 1024).replace(b"Resultat", _MARK, 1))
    return out


def _unique(pdf: bytes, number: int) -> bytes:
    """The same PDF with a different mark: same length, so the xref offsets stay right."""
    return pdf.replace(_MARK, f"{number:08d}".encode(), 1)


def _medium(root: Path, nirs: list[str], per_holder: int) -> tuple[Path, int]:
    fake = medium_for(nirs, documents=per_holder)
    bases = _base_pdfs()
    number = 0
    for subset in fake.subsets:
        for doc in subset.documents:
            number += 1
            pdf = _unique(bases[number % len(bases)], number)
            doc.content = (
                make_cda(doc, subset.nir, subset.authority, pdf) if doc.kind == "cda" else pdf
            )
    path = fake.write_zip(root / "export.zip")
    return path, number


def _holders(database, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    import datetime as dt

    nirs = []
    with database.transaction() as session:
        for n in range(count):
            nir = make_nir(2, 1981, 3, "13", 1 + n // 999, 1 + n % 999)
            session.add(
                Holder(
                    nir=nir,
                    birth_name="BENCH",
                    first_names="Bench",
                    birth_date=dt.date(1981, 3, 1),
                    sex="F",
                    state="active",
                )
            )
            nirs.append(nir)
    return nirs


def _raw(root: Path, medium: Path, batch: int, writers: int) -> float:
    """The same members read out of the ZIP, hashed, encrypted and written durably by `writers`
    threads, then one row per document, committed in groups of `batch` (as Carnet does)."""
    connection = sqlite3.connect(root / "raw.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE doc (id TEXT PRIMARY KEY, holder TEXT, master TEXT UNIQUE, sha1 TEXT, "
        "sha256 TEXT, size INTEGER, blob TEXT)"
    )
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    store = root / "raw"
    store.mkdir()
    local = threading.local()

    def put(info: zipfile.ZipInfo) -> tuple[str, str, str, str, int, str]:
        if not hasattr(local, "archive"):
            local.archive = zipfile.ZipFile(medium)
        content = local.archive.read(info)
        sha1 = hashlib.sha1(content).hexdigest()  # noqa: S324 - what XDS declares
        sha256 = hashlib.sha256(content).hexdigest()
        sealed = aead.encrypt(os.urandom(12), content, b"aad")
        name = uuid.uuid4().hex
        path = store / f"{name}.part"
        with path.open("wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        path.rename(store / name)
        directory = os.open(store, os.O_RDONLY)
        os.fsync(directory)
        os.close(directory)
        return (name, "h", info.filename, sha1, sha256, len(content), name)

    with zipfile.ZipFile(medium) as archive:
        infos = [
            info
            for info in archive.infolist()
            if info.filename.upper().endswith((".PDF", ".XML"))
            and not info.filename.upper().endswith("METADATA.XML")
        ]
    started = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        for start in range(0, len(infos), batch):
            rows = list(pool.map(put, infos[start : start + batch]))
            connection.execute("BEGIN")
            connection.executemany("INSERT INTO doc VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return len(infos) / elapsed


def xdm() -> None:
    """documents/s of the XDM import (SQLite), next to the raw baseline of the same run."""
    total = int(os.environ.get("CARNET_BENCH_XDM_DOCUMENTS", "2000"))
    holders = int(os.environ.get("CARNET_BENCH_XDM_HOLDERS", "50"))
    batch = getattr(migration, "BATCH_DOCUMENTS", 1)
    writers = getattr(migration, "WRITERS", 1)
    with world() as (settings, database, vault), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nirs = _holders(database, holders)
        medium, count = _medium(root, nirs, max(total // holders, 1))
        size = medium.stat().st_size
        print(f"medium: {count} documents, {holders} holders, ZIP {size / 1e6:.1f} MB", flush=True)
        vault.check(database)
        started, cpu = time.perf_counter(), time.process_time()
        run = migration.Migration(database, vault, settings, migration.Options())
        scanned = run.scan([medium])
        summary = run.run(scanned)
        migration.write_report(root / "export.report.csv", summary.rows)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if summary.imported != count:
            raise RuntimeError(
                f"bench import: {summary.imported} imported, {summary.rejected} rejected"
            )
        carnet = count / elapsed
        print(f"XDM import: {cpu / count * 1000:.2f} ms of CPU per document", flush=True)
        raw = _raw(root, medium, batch, writers)
    compare(
        f"XDM import, {count} documents / {holders} holders "
        f"(raw: {writers} writer threads, a commit every {batch})",
        carnet,
        raw,
        "documents/s",
        target="≥ 300 documents/s",
    )
