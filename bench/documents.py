"""Document deposits and searches through HTTP (issue 4).

Deposits: ITI-65 Bundles each carrying one 100 KB PDF, sent by N concurrent clients (httpx) to a
real `carnet serve` process on SQLite; documents/s and p50/p99 latency, next to the raw ceiling
measured in the same run (AES-GCM + fsynced file + one committed row per document).
Search: the first page of ITI-67 for a holder with 10,000 documents, p50/p99.
`CARNET_BENCH_CLIENTS` (default 8) and `CARNET_BENCH_DEPOSITS` (default 400) tune the run.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fpdf import FPDF
from sqlalchemy import insert

from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder, Professional
from carnet.accounts.rules import INS_NIR_SYSTEM, RPPS_SYSTEM, make_nir, make_rpps
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.models import Document
from carnet.migrate import upgrade


def _pdf(size: int = 100 * 1024) -> bytes:
    """A readable PDF of about `size` bytes (uncompressed text pages)."""
    line = "Resultat d'examen biologique - valeurs de reference - " * 2
    lines = 100
    while True:
        page = FPDF()
        page.set_compression(False)
        page.set_font("helvetica", size=8)
        page.add_page()
        for _ in range(lines):
            page.cell(0, 4, line[:120], new_x="LMARGIN", new_y="NEXT")
        content = bytes(page.output())
        if len(content) >= size:
            return content
        lines = int(lines * size / len(content)) + 10


def _bundle(nir: str, rpps: str, content: bytes) -> dict[str, object]:
    doc, binary, listed = (f"urn:uuid:{uuid.uuid4()}" for _ in range(3))
    subject = {"identifier": {"system": INS_NIR_SYSTEM, "value": nir}}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": listed,
                "request": {"method": "POST", "url": "List"},
                "resource": {
                    "resourceType": "List",
                    "status": "current",
                    "mode": "working",
                    "code": {
                        "coding": [
                            {
                                "system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                                "code": "submissionset",
                            }
                        ]
                    },
                    "subject": subject,
                    "date": dt.datetime.now(dt.UTC).isoformat(),
                    "entry": [{"item": {"reference": doc}}],
                },
            },
            {
                "fullUrl": doc,
                "request": {"method": "POST", "url": "DocumentReference"},
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "type": {"coding": [{"system": "http://loinc.org", "code": "11502-2"}]},
                    "subject": subject,
                    "author": [{"identifier": {"system": RPPS_SYSTEM, "value": rpps}}],
                    "description": "Bilan",
                    "content": [{"attachment": {"contentType": "application/pdf", "url": binary}}],
                },
            },
            {
                "fullUrl": binary,
                "request": {"method": "POST", "url": "Binary"},
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/pdf",
                    "data": base64.b64encode(content).decode(),
                },
            },
        ],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere or with several workers)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "carnet.cli", "serve", "--port", str(port), "--no-jobs"),
            *("--workers", os.environ.get("CARNET_BENCH_WORKERS", "1")),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def _raw_ceiling(root: Path, count: int, blob: bytes, clients: int) -> float:
    """The floor of a deposit's work, done by the simplest code with `clients` threads: AES-GCM,
    write + fsync + rename of the blob, then one committed row per document on SQLite (WAL,
    synchronous=FULL), each thread committing its own rows, as Carnet's requests do."""
    path = root / "raw.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE d (id TEXT PRIMARY KEY, size INTEGER, sha TEXT)")
    setup.close()
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    folder = root / "raw"
    folder.mkdir()

    def work(index: int) -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=30000")
        for n in range(index, count, clients):
            sealed = aead.encrypt(os.urandom(12), blob, b"aad")
            part = folder / f"{n}.part"
            with part.open("wb") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
            part.rename(folder / f"{n}.blob")
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO d VALUES (?, ?, ?)", (str(uuid.uuid4()), len(blob), "x"))
            connection.execute("COMMIT")
        connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - started)


def _deposit_world(data: Path, database_url: str | None) -> tuple[dict[str, str], str, list[str], str]:
    """A migrated Carnet with 20 holders and one professional; returns the server's environment,
    the professional's token, the holders' NIRs and the professional's RPPS."""
    from carnet.vault.service import Vault

    env = {**os.environ, "CARNET_DATA_DIR": str(data), "CARNET_LOG_LEVEL": "WARNING",
           "CARNET_JOBS_INTERVAL_SECONDS": "0"}  # fmt: skip
    env.pop("CARNET_DATABASE_URL", None)
    if database_url:
        env["CARNET_DATABASE_URL"] = database_url
    settings = Settings(data_dir=data, database_url=database_url or "")
    database = Database(settings.effective_database_url)
    upgrade(database)
    Vault.from_settings(settings).check(database)
    with database.transaction() as session:
        holders = []
        for n in range(20):
            holder = Holder(nir=make_nir(2, 1975, 5, "69", 1, n + 1), birth_name="BENCH",
                            first_names="Bench", birth_date=dt.date(1975, 5, 1), sex="F",
                            state="active")  # fmt: skip
            session.add(holder)
            holders.append(holder)
        pro = Professional(rpps=make_rpps(77), profession_code="10", name="Dr Bench")
        session.add(pro)
        session.flush()
        token, _row = issue_token(
            session, Principal(PrincipalKind.PROFESSIONAL, pro.id), ttl=dt.timedelta(hours=2)
        )
        nirs, rpps = [h.nir for h in holders], pro.rpps
    database.dispose()
    return env, token, nirs, rpps


def documents() -> None:
    """ITI-65 deposits of one 100 KB PDF each through HTTP, next to the raw ceiling of the same
    run; on SQLite (one server process on one core), then on PostgreSQL with 1 and 2 server
    processes when one answers. `CARNET_BENCH_CLIENTS` (16) and `CARNET_BENCH_DEPOSITS` (800)
    tune it; `CARNET_BENCH_PROFILE=DIR` adds py-spy profiles of the server."""
    from bench.common import compare, postgres_url
    from bench.harness import carnet_command, free_port, load, serve
    from bench.loadgen import request
    from bench.sections import _pg_schema

    clients = int(os.environ.get("CARNET_BENCH_CLIENTS", "16"))
    deposits = int(os.environ.get("CARNET_BENCH_DEPOSITS", "800"))
    content = _pdf()
    targets: list[tuple[str, int]] = [("SQLite", 1)]
    pg = postgres_url()
    if pg:
        targets += [("PostgreSQL", 1), ("PostgreSQL", 2)]
    with tempfile.TemporaryDirectory(prefix="carnet-bench-") as tmp:
        root = Path(tmp)
        raw = _raw_ceiling(root, deposits, content, clients)
        print(f"raw ceiling, {clients} threads (AES-GCM + fsynced blob + one committed row each): "
              f"{raw:7.1f} documents/s")  # fmt: skip
        for engine, workers in targets:
            cleanup = None
            url = None
            if engine == "PostgreSQL":
                url, cleanup = _pg_schema(pg or "")
            try:
                data = root / f"var-{engine}-{workers}"
                env, token, nirs, rpps = _deposit_world(data, url)
                headers = {"Authorization": f"Bearer {token}",
                           "Content-Type": "application/fhir+json"}  # fmt: skip
                requests = [
                    request("POST", "/fhir", headers,
                            json.dumps(_bundle(nirs[n % len(nirs)], rpps, content)).encode())
                    for n in range(deposits)
                ]  # fmt: skip
                port = free_port()
                with serve(carnet_command(port, workers), env, port, pin=workers == 1) as server:
                    label = f"ITI-65 deposits, {engine}, {workers} process(es), {clients} clients"
                    measured = load(port, clients, requests, server_pid=server.pid,
                                    label=f"deposit-{engine}-{workers}")  # fmt: skip
                print(measured.line(label, "documents/s"))
                compare(f"{label} (p99 {measured.p99_ms:.0f} ms)", measured.rate, raw,
                        "documents/s", target="≥ 50 %, ≥ 500/s on SQLite, p99 < 100 ms")  # fmt: skip
            finally:
                if cleanup:
                    cleanup()


def _metadata_rows(holder_id: uuid.UUID, pro_id: uuid.UUID, rpps: str, titles: list[bytes],
                   ids: list[uuid.UUID]) -> list[dict[str, object]]:  # fmt: skip
    """Document rows without content: enough for metadata reads and searches."""
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "id": ids[n], "holder_id": holder_id, "master_identifier": f"urn:bench:{ids[n]}",
            "source": "professional", "author_kind": "professional", "author_id": pro_id,
            "author_rpps": rpps, "type_code": "11502-2", "category": "BIOLOGIE",
            "sensitivity": "general", "title_sealed": titles[n],
            "deposited_at": now - dt.timedelta(minutes=n), "updated_at": now,
            "mime_type": "application/pdf", "size": 1, "sha256": "0" * 64, "sha1": "0" * 40,
            "blob_id": "0" * 32, "status": "current", "version": 1, "masked": False,
            "invisible_to_patient": False, "invisible_to_representatives": False,
            "not_deletable": False, "pinned": False,
        }
        for n in range(len(ids))
    ]  # fmt: skip


def reads() -> None:
    """The four reads of issue 14 by 32 concurrent clients, each answer sent only after its audit
    entry is committed, next to a bare ASGI endpoint doing one indexed SELECT and one committed
    audit INSERT (bench/bare.py) in the same run. The generator runs in its own process on the
    other core (bench/harness.py). `CARNET_BENCH_READ_CLIENTS` (32) and `CARNET_BENCH_READS` (60
    per client) tune it; `CARNET_BENCH_PROFILE=DIR` adds py-spy profiles."""
    from bench import bare
    from bench.common import compare
    from bench.harness import carnet_command, free_port, load, serve
    from bench.loadgen import request
    from carnet.vault.service import Vault

    clients = int(os.environ.get("CARNET_BENCH_READ_CLIENTS", "32"))
    total = clients * int(os.environ.get("CARNET_BENCH_READS", "60"))
    content = _pdf()
    with tempfile.TemporaryDirectory(prefix="carnet-bench-") as tmp:
        root = Path(tmp)
        # The baseline first, on the same disk.
        os.environ["CARNET_BARE_DB"] = str(root / "bare.db")
        bare_ids = bare.prepare(str(root / "bare.db"), 200)
        port = free_port()
        bare_cmd = [sys.executable, "-m", "uvicorn", "bench.bare:app", "--port", str(port),
                    "--log-level", "warning", "--no-access-log"]  # fmt: skip
        with serve(bare_cmd, dict(os.environ), port, ready="/doc/none") as server:
            requests = [request("GET", f"/doc/{bare_ids[n % 200]}", {}) for n in range(total)]
            baseline = load(port, clients, requests, server_pid=server.pid, label="read-bare")
        print(baseline.line(f"bare ASGI read (1 SELECT + 1 committed INSERT), {clients} clients",
                            "reads/s"))  # fmt: skip
        # The same read behind FastAPI alone: the framework's share of what Carnet costs.
        port = free_port()
        framework_cmd = [*bare_cmd[:3], "bench.bare:framework_app", *bare_cmd[4:]]
        framework_cmd[framework_cmd.index("--port") + 1] = str(port)
        with serve(framework_cmd, dict(os.environ), port, ready="/doc/none") as server:
            requests = [request("GET", f"/doc/{bare_ids[n % 200]}", {}) for n in range(total)]
            framework = load(port, clients, requests, server_pid=server.pid, label="read-fastapi",
                             ok=("200",))  # fmt: skip
        print(framework.line(f"the same read behind FastAPI (sync route and dependency), "
                             f"{clients} clients", "reads/s"))  # fmt: skip

        data = root / "var"
        env = {**os.environ, "CARNET_DATA_DIR": str(data), "CARNET_LOG_LEVEL": "WARNING",
               "CARNET_JOBS_INTERVAL_SECONDS": "0"}  # fmt: skip
        env.pop("CARNET_DATABASE_URL", None)
        settings = Settings(data_dir=data)
        database = Database(settings.effective_database_url)
        upgrade(database)
        vault = Vault.from_settings(settings)
        vault.check(database)
        with database.transaction() as session:
            holder = Holder(nir=make_nir(2, 1975, 5, "69", 1, 1), birth_name="BENCH",
                            first_names="Bench", birth_date=dt.date(1975, 5, 1), sex="F",
                            state="active")  # fmt: skip
            pro = Professional(rpps=make_rpps(78), profession_code="10", name="Dr Bench")
            session.add_all([holder, pro])
            session.flush()
            session.add(
                CareRelationship(holder_id=holder.id, professional_id=pro.id, status="authorised")
            )
            pro_token, _ = issue_token(
                session, Principal(PrincipalKind.PROFESSIONAL, pro.id), ttl=dt.timedelta(hours=2)
            )
            holder_token, _ = issue_token(
                session, Principal(PrincipalKind.HOLDER, holder.id), ttl=dt.timedelta(hours=2)
            )
            holder_id, pro_id, rpps, nir = holder.id, pro.id, pro.rpps, holder.nir
        ids = [uuid.uuid4() for _ in range(10_000)]
        with database.transaction() as session:
            titles = [vault.seal_text(session, holder_id, i, "document-title", "Bilan") for i in ids]
        with database.transaction() as session:
            session.execute(insert(Document), _metadata_rows(holder_id, pro_id, rpps, titles, ids))
        port = free_port()
        with serve(carnet_command(port), env, port) as server:
            pro_headers = {"Authorization": f"Bearer {pro_token}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                              headers={**pro_headers,
                                       "Content-Type": "application/fhir+json"}) as http:  # fmt: skip
                for _ in range(50):
                    answer = http.post("/fhir", json=_bundle(nir, rpps, content))
                    assert answer.status_code == 200, answer.text[:300]
            with database.transaction() as session:
                from sqlalchemy import select

                deposited = [str(i) for i in session.scalars(
                    select(Document.id).where(Document.size > 1))]  # fmt: skip
            database.dispose()
            pages = f"/fhir/DocumentReference?patient.identifier={INS_NIR_SYSTEM}|{nir}&_count=20"
            kinds = [
                ("holder API metadata", {"Authorization": f"Bearer {holder_token}"},
                 lambda n: f"/api/v1/me/documents/{ids[n % 200]}"),
                ("professional FHIR DocumentReference read", pro_headers,
                 lambda n: f"/fhir/DocumentReference/{ids[n % 200]}"),
                ("ITI-68 Binary, 100 KB PDF", pro_headers,
                 lambda n: f"/fhir/Binary/{deposited[n % len(deposited)]}"),
                ("ITI-67 first page (10,050 documents)", pro_headers, lambda n: pages),
            ]  # fmt: skip
            only = os.environ.get("CARNET_BENCH_READ_ONLY", "")
            for label, headers, path in kinds:
                if only and only not in label:
                    continue
                requests = [request("GET", path(n), headers) for n in range(total)]
                measured = load(port, clients, requests, server_pid=server.pid,
                                label="read-" + label.split(",")[0].replace(" ", "-"))  # fmt: skip
                print(measured.line(f"{label}, {clients} clients", "reads/s"))
                compare(f"read, {label}, {clients} clients (p99 {measured.p99_ms:.0f} ms)",
                        measured.rate, baseline.rate, "reads/s",
                        target="≥ 50 %, p99 < 100 ms")  # fmt: skip
