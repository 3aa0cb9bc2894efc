"""ITI-65 in two steps (issue 14): the content work before the write transaction, the rows in it.

DOC-1 (content checked), ACC-2 and ID-3 (who may deposit for whom) are decided again in the write
step; the first step only prepares.

The write lock is free while PDFs are checked, encrypted and fsynced; a deposit refused in the
write step, or whose patient turns out to be another, leaves no blob behind.
"""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import update

from carnet.accounts.models import Holder
from carnet.accounts.rules import make_nir
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import fhir_service
from carnet.vault.service import Vault
from tests.fhir.support import blob_count, count_documents, fhir_json, pdf, people, provide_bundle


def test_the_content_is_prepared_without_the_write_lock(
    client: TestClient, database: Database, settings: Settings, vault: Vault
) -> None:
    who = people(database)
    # The space's data key exists (its creation is a write): the preparation then only reads.
    fhir_json(
        client.post("/fhir", json=provide_bundle(who.nir, who.rpps, [pdf("a")]), headers=who.pro)
    )
    bundle = fhir_service.parse_bundle(
        settings, provide_bundle(who.nir, who.rpps, [pdf("b"), pdf("c")])
    )
    committed = threading.Event()

    def other_writer() -> None:
        with database.transaction() as session:
            session.execute(update(Holder).where(Holder.id == who.holder_id).values(sex="F"))
        committed.set()

    with database.read_mostly() as session:
        prepared = fhir_service.prepare_bundle(session, vault, settings, bundle)
        writer = threading.Thread(target=other_writer)
        writer.start()
        # Another request commits while the preparation's unit of work is still open.
        assert committed.wait(timeout=20)
        writer.join()
    assert len(prepared) == 2
    assert blob_count(settings.effective_blob_dir) == 3
    fhir_service.drop_prepared(vault, prepared)
    assert blob_count(settings.effective_blob_dir) == 1


def test_a_bundle_refused_in_the_write_step_leaves_no_blob(
    client: TestClient, database: Database, settings: Settings
) -> None:
    who = people(database)
    same = {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.1"}
    first = provide_bundle(who.nir, who.rpps, [pdf("a")], masterIdentifier=same)
    fhir_json(client.post("/fhir", json=first, headers=who.pro))
    blobs = blob_count(settings.effective_blob_dir)
    # The same master identifier again: a duplicate, refused in the write step after the
    # content was prepared; nothing of the Bundle stays.
    again = provide_bundle(who.nir, who.rpps, [pdf("b")], masterIdentifier=same)
    response = client.post("/fhir", json=again, headers=who.pro)
    assert response.status_code == 409, response.text
    assert count_documents(database, who.holder_id) == 1
    assert blob_count(settings.effective_blob_dir) == blobs


def test_an_unknown_patient_prepares_nothing(
    client: TestClient, database: Database, settings: Settings
) -> None:
    who = people(database)
    body = provide_bundle(make_nir(1, 1980, 1, "75", 998, 997), who.rpps, [pdf("a")])
    response = client.post("/fhir", json=body, headers=who.pro)
    assert response.status_code == 404
    assert blob_count(settings.effective_blob_dir) == 0
