"""The benchmark sections, one function each (see bench/run.py)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.common import world
from carnet.accounts.models import Holder
from carnet.accounts.rules import make_nir
from carnet.audit.service import append


def _holders(database, count: int) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    ids = []
    with database.transaction() as session:
        for n in range(count):
            holder = Holder(
                nir=make_nir(1, 1970, 1, "75", 1 + n // 999, 1 + n % 999), birth_name="BENCH",
                first_names="Bench", birth_date=__import__("datetime").date(1970, 1, 1), sex="M",
                state="active",
            )
            session.add(holder)
            session.flush()
            ids.append(holder.id)
    return ids


def vault() -> None:
    """Encrypt-and-store throughput for 100 KB blobs, next to raw AES-GCM in the same run."""
    blob = os.urandom(100 * 1024)
    count = 2000
    key = AESGCM.generate_key(bit_length=256)
    aead = AESGCM(key)
    started = time.perf_counter()
    for _ in range(count):
        aead.encrypt(os.urandom(12), blob, b"aad")
    raw = count / (time.perf_counter() - started)
    with world() as (_settings, database, vault_):
        holder_ids = _holders(database, 50)
        started = time.perf_counter()
        with database.transaction() as session:
            for n in range(count):
                vault_.put_blob(session, holder_ids[n % 50], uuid.uuid4(), "document", [blob])
        stored = count / (time.perf_counter() - started)
    mb = len(blob) / 1e6
    print(f"raw AES-256-GCM, 100 KB in memory:       {raw:9.0f} blobs/s ({raw * mb:7.1f} MB/s)")
    print(f"vault put_blob (encrypt+fsync+rename):   {stored:9.0f} blobs/s ({stored * mb:7.1f} MB/s)")
    from bench.common import compare

    compare("vault put_blob, 100 KB (against AES-GCM in memory, no disk)", stored, raw, "blobs/s",
            target="none: the disk's fsync is the difference")  # fmt: skip


def _appends(database, holder_ids: list[uuid.UUID], writers: int, per_writer: int) -> float:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        barrier.wait()
        try:
            for n in range(per_writer):
                with database.transaction() as session:
                    append(session, actor_kind="professional", actor_id="bench", action="document.read",
                           holder_id=holder_ids[(index + n) % len(holder_ids)], target_type="DocumentReference",
                           target_id=str(n))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return writers * per_writer / elapsed


def audit() -> None:
    """Committed audit appends per second: one writer, then 8 concurrent writers; without, then
    with the heads anchored outside the database on every commit (ACC-8, issue 12 item 7).
    `BENCH_AUDIT_APPENDS` scales the run (default 1000 per line)."""
    from bench.common import postgres_url
    from carnet.audit import anchors

    targets: list[tuple[str, str | None]] = [("SQLite", None)]
    pg = postgres_url()
    if pg:
        targets.append(("PostgreSQL", None))
    for label, _ in targets:
        url = None
        schema_ctx: Callable[[], object] | None = None
        if label == "PostgreSQL":
            url, schema_ctx = _pg_schema(pg or "")
        try:
            with world(url) as (settings, database, _vault):
                holder_ids = _holders(database, 64)
                total = int(os.environ.get("BENCH_AUDIT_APPENDS", "1000"))
                for anchored in (False, True):
                    if anchored:
                        anchors.install(database, settings)
                    single = _appends(database, holder_ids, 1, total)
                    eight = _appends(database, holder_ids, 8, total // 8)
                    how = "anchored" if anchored else "DB only"
                    print(f"{label:10} {how:8} committed appends/s: "
                          f"1 writer {single:7.0f}   8 writers {eight:7.0f}", flush=True)
        finally:
            if schema_ctx:
                schema_ctx()


def _pg_schema(url: str) -> tuple[str, Callable[[], object]]:
    """A throw-away schema on the PostgreSQL server; returns its URL and a cleanup function."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from carnet.db import Database

    schema = f"carnet_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(url, pool_size=1)
    with admin.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})

    def cleanup() -> None:
        with admin.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return scoped.render_as_string(hide_password=False), cleanup


from bench.access import access  # noqa: E402
from bench.agenda import agenda  # noqa: E402
from bench.apps import apps  # noqa: E402
from bench.documents import documents, reads  # noqa: E402
from bench.export import export  # noqa: E402
from bench.messaging import messaging  # noqa: E402
from bench.reimbursements import reimbursements  # noqa: E402
from bench.roster import roster  # noqa: E402
from bench.startup import startup  # noqa: E402
from bench.xdm import xdm  # noqa: E402

ALL: dict[str, Callable[[], None]] = {
    "vault": vault,
    "audit": audit,
    "roster": roster,
    "documents": documents,
    "access": access,
    "reads": reads,
    "reimbursements": reimbursements,
    "messaging": messaging,
    "agenda": agenda,
    "apps": apps,
    "export": export,
    "startup": startup,
    "xdm": xdm,
}
