"""Apps (issue 8, ACC-9): FHIR reads per second by an app's OAuth2 token (token resolution, the
scope check at the route, the decision point in app mode, the audit entry committed before the
answer) next to the same read by the holder's own token, in the same run against one server.

`make bench SECTIONS=apps`. CARNET_BENCH_APP_CLIENTS concurrent clients (8) each read
CARNET_BENCH_APP_READS documents (100) by id, first with the holder's token, then with the app's,
then the holder again (the best of the two holder runs is shown, so warm-up does not favour apps).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import insert

from bench.common import percentiles
from bench.documents import _free_port, _serve
from carnet.accounts.models import Holder, Professional
from carnet.accounts.rules import make_nir, make_rpps
from carnet.apps import service
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.models import Document
from carnet.migrate import upgrade
from carnet.vault.service import Vault

SCOPES = ["launch/patient", "patient/DocumentReference.rs"]


def _world(settings: Settings) -> tuple[str, str, list[uuid.UUID]]:
    """A holder with 200 documents, their API token, and an app connected with a token."""
    database = Database(settings.effective_database_url)
    upgrade(database)
    vault = Vault.from_settings(settings)
    vault.check(database)
    with database.transaction() as session:
        holder = Holder(
            nir=make_nir(2, 1975, 5, "69", 1, 1), birth_name="BENCH", first_names="Bench",
            birth_date=dt.date(1975, 5, 1), sex="F", state="active",
        )  # fmt: skip
        pro = Professional(rpps=make_rpps(78), profession_code="10", name="Dr Bench")
        session.add_all([holder, pro])
        session.flush()
        holder_token, _row = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder.id), ttl=dt.timedelta(hours=2)
        )
        app, _secret = service.add_app(
            session,
            "bench-app",
            service.Listing(
                name="Bench", publisher="Bench", description="", version="1.0",
                redirect_uris=["https://bench.example/cb"], scopes=SCOPES,
            ),
        )  # fmt: skip
        consent = service.grant_consent(
            session, app, holder, Principal(PrincipalKind.HOLDER, holder.id), SCOPES
        )
        app_token, _refresh = service.new_token_values(refresh=False)
        service.store_token(
            session, consent, access=app_token, refresh=None, scopes=" ".join(SCOPES),
            expires_in=7200,
        )  # fmt: skip
        holder_id, pro_id, rpps = holder.id, pro.id, pro.rpps
    ids = [uuid.uuid4() for _ in range(200)]
    now = dt.datetime.now(dt.UTC)
    with database.transaction() as session:
        titles = [vault.seal_text(session, holder_id, i, "document-title", "Bilan") for i in ids]
        session.execute(
            insert(Document),
            [
                {
                    "id": ids[n], "holder_id": holder_id, "master_identifier": f"urn:bench:{n}",
                    "source": "professional", "author_kind": "professional", "author_id": pro_id,
                    "author_rpps": rpps, "type_code": "11502-2", "category": "BIOLOGIE",
                    "sensitivity": "general", "title_sealed": titles[n], "deposited_at": now,
                    "updated_at": now, "mime_type": "application/pdf", "size": 1,
                    "sha256": "0" * 64, "sha1": "0" * 40, "blob_id": "0" * 32,
                    "status": "current", "version": 1, "masked": False,
                    "invisible_to_patient": False, "invisible_to_representatives": False,
                    "not_deletable": False, "pinned": False,
                }
                for n in range(len(ids))
            ],
        )  # fmt: skip
    database.dispose()
    return holder_token, app_token, ids


def _run(port: int, token: str, ids: list[uuid.UUID], clients: int, per_client: int) -> str:
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=60,
            headers={"Authorization": f"Bearer {token}"},
        ) as http:  # fmt: skip
            for n in range(per_client):
                started = time.perf_counter()
                response = http.get(f"/fhir/DocumentReference/{ids[(index + n) % len(ids)]}")
                with lock:
                    latencies.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        failures.append(response.status_code)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = clients * per_client / (time.perf_counter() - started)
    p50, p99 = percentiles(latencies)
    failed = f", {len(failures)} failed ({sorted(set(failures))})" if failures else ""
    return f"{rate:8.0f} reads/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms{failed}"


def apps() -> None:
    clients = int(os.environ.get("CARNET_BENCH_APP_CLIENTS", "8"))
    per_client = int(os.environ.get("CARNET_BENCH_APP_READS", "100"))
    with tempfile.TemporaryDirectory(prefix="carnet-bench-") as tmp:
        data = Path(tmp) / "var"
        env = {
            **os.environ,
            "CARNET_DATA_DIR": str(data),
            "CARNET_LOG_LEVEL": "WARNING",
            "CARNET_JOBS_INTERVAL_SECONDS": "0",
        }
        env.pop("CARNET_DATABASE_URL", None)
        holder_token, app_token, ids = _world(Settings(data_dir=data))
        port = _free_port()
        server = _serve(env, port)
        try:
            print(f"FHIR DocumentReference reads by id, {clients} clients × {per_client} (SQLite)")
            first = _run(port, holder_token, ids, clients, per_client)
            app_line = _run(port, app_token, ids, clients, per_client)
            second = _run(port, holder_token, ids, clients, per_client)
            best = max(first, second, key=lambda line: float(line.split()[0]))
            print(f"  holder token      {best}")
            print(f"  app token (ACC-9) {app_line}")
        finally:
            server.terminate()
            server.wait(timeout=30)
