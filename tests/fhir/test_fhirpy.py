"""A real FHIR client against a real server: fhirpy (sync, requests) over HTTP to uvicorn.

The test app runs in a uvicorn server on a free port of 127.0.0.1, in a thread; fhirpy deposits a
document with its content inline, finds it by the patient's INS-NIR (ID-1) with paging, reads it,
follows its subject to the Patient and fetches its Binary (ITI-65-style create, ITI-67, ITI-68).
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from carnet.accounts.rules import INS_NIR_SYSTEM
from carnet.config import Settings
from carnet.db import Database
from tests.fhir.support import document_reference, pdf, people, schema_errors


@pytest.fixture
def live_server(app: FastAPI, settings: Settings) -> Iterator[str]:
    """The test app served by uvicorn on 127.0.0.1 (a free port), links pointing at it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    app.state.settings = settings.model_copy(update={"base_url": base})
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_fhirpy_deposits_searches_reads_and_retrieves(live_server: str, database: Database) -> None:
    who = people(database)
    pro = SyncFHIRClient(f"{live_server}/fhir", authorization=f"Bearer {who.pro_token}")

    contents = [pdf(f"fhirpy {n}") for n in range(3)]
    created = []
    for n, content in enumerate(contents):
        resource = pro.resource(
            "DocumentReference",
            **document_reference(who.nir, who.rpps, content=content, title=f"Bilan {n}"),
        )
        resource.save()  # POST /fhir/DocumentReference, content inline
        assert resource.id
        assert resource["status"] == "current"
        created.append(resource.id)

    search = pro.resources("DocumentReference").search(
        patient__identifier=f"{INS_NIR_SYSTEM}|{who.nir}"
    )
    found = search.limit(2).fetch_all()  # follows the `next` links
    assert sorted(doc.id for doc in found) == sorted(created)
    first_page = search.limit(2).fetch_raw()
    assert first_page["total"] == 3 and len(first_page["entry"]) == 2

    read = pro.reference("DocumentReference", created[0]).to_resource()  # GET …/{id}
    assert schema_errors(read.serialize()) == []
    assert read["description"] == "Bilan 0"
    patient = read["subject"].to_resource()  # GET /fhir/Patient/{id}
    assert patient["identifier"][0]["value"] == who.nir

    binary = pro.get("Binary", created[0])  # Accept: application/fhir+json → a FHIR Binary
    assert binary["contentType"] == "application/pdf"
    assert base64.b64decode(binary["data"]) == contents[0]

    with pytest.raises(OperationOutcome):
        pro.resources("DocumentReference").search(unknown="1").fetch()

    other = SyncFHIRClient(f"{live_server}/fhir", authorization=f"Bearer {who.other_token}")
    assert other.resources("DocumentReference").search(patient=who.holder_id).fetch() == []
    with pytest.raises(ResourceNotFound):
        other.get("DocumentReference", created[0])

    holder = SyncFHIRClient(f"{live_server}/fhir", authorization=f"Bearer {who.holder_token}")
    mine = holder.resources("DocumentReference").search(patient=f"Patient/{who.holder_id}")
    assert sorted(doc.id for doc in mine.fetch_all()) == sorted(created)
