"""Statement budgets of the hot paths (issue 13): each request is counted as the database sees it
(`tests.support.statements`), on SQLite and on PostgreSQL alike, and its answer checked.

ACC-8: every read leaves its audit entry durable before the response; the audit entries counted
here are part of each budget (the group commit's side connection included), and the log still
verifies, anchored, afterwards.

Each test pins the count reached (`Budget`): SQLite counts one `BEGIN` more (PostgreSQL's driver
opens its transactions unseen). How the budgets are met (issue 13, item 8):
- who acts on which space is resolved once, with the credential: the token (or portal session)
  is read in the request's unit of work, in one statement with its holder, the space's switches
  and data key, each domain joining its own tables (`db.Preload`, `access.routes.own_space_parts`);
- a document is read in one statement with its author, its space and the caller's standing on
  that space (`documents.service.load`); an ITI-67 patient with their space and the caller's
  standing (`accounts.service.holder_by_nir(preload=…)`); a page with its authors;
- an audit entry costs 2 statements: the head is reserved and read in one upsert, the entry
  inserted, and the database moves the head (trigger `audit_head_follows`, migration 0018).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.accounts.models import Holder
from carnet.audit.models import AuditEntry
from carnet.audit.signing import load_signer
from carnet.audit.verify import verify
from carnet.config import Settings
from carnet.db import Database
from carnet.vault.service import Vault
from tests.conftest import ON_POSTGRES
from tests.fhir.support import (
    INS_NIR_SYSTEM,
    fhir_json,
    pdf,
    people,
    provide_bundle,
)
from tests.portal.support import deposit, log_in, make_account
from tests.support.statements import Statements, recording

SHOW = os.environ.get("CARNET_SHOW_STATEMENTS") == "1"  # print every count and statement


@dataclass(frozen=True)
class Budget:
    """The statements a request may execute: reached on each engine; `issue` is issue 13's."""

    issue: int
    sqlite: int
    postgresql: int

    @property
    def pinned(self) -> int:
        return self.postgresql if ON_POSTGRES else self.sqlite


def _within(recorded: Statements, budget: Budget, what: str) -> None:
    if SHOW:
        print(f"\n== {what} (issue: {budget.issue}): {recorded.report()}")
    assert recorded.count <= budget.pinned, f"{what}: budget {budget.pinned}, {recorded.report()}"


def _log_intact(database: Database, settings: Settings) -> None:
    """ACC-8: the entries appended with fewer statements still chain, verify and are anchored."""
    with database.transaction() as session:
        report = verify(session, load_signer(settings.effective_audit_signing_key_file))
    assert report.intact, report.problems
    assert report.notes == []


def _audited(database: Database, action: str) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            )
            or 0
        )


def _deposited(client: TestClient, who: Any, count: int) -> list[str]:
    bundle = provide_bundle(who.nir, who.rpps, [pdf(f"bilan {n}") for n in range(count)])
    answer = fhir_json(client.post("/fhir", json=bundle, headers=who.pro))
    return [e["response"]["location"].split("/")[1] for e in answer["entry"][1 : 1 + count]]


def test_a_holders_document_read(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """The holder reads one of their documents through the API, audit entry included."""
    who = people(database)
    (doc_id,) = _deposited(client, who, 1)
    before = _audited(database, "document.read-metadata")
    with recording() as recorded:
        response = client.get(f"/api/v1/me/documents/{doc_id}", headers=who.holder)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == doc_id
    assert _audited(database, "document.read-metadata") == before + 1
    # Issue: 6. Before: 16 (SQLite), 14 (PostgreSQL). Now: the token with the space, the
    # document with its author, the audit entry's 2 (and SQLite's BEGIN).
    _within(recorded, Budget(6, sqlite=6, postgresql=5), "holder GET /api/v1/me/documents/{id}")
    _log_intact(database, settings)


def test_a_professionals_fhir_read(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """The depositing professional reads the DocumentReference, audit entry included."""
    who = people(database)
    (doc_id,) = _deposited(client, who, 1)
    with recording() as recorded:
        read = fhir_json(client.get(f"/fhir/DocumentReference/{doc_id}", headers=who.pro))
    assert read["id"] == doc_id
    assert read["subject"]["identifier"] == {"system": INS_NIR_SYSTEM, "value": who.nir}
    # Issue: 7. Before: 18 (SQLite), 16 (PostgreSQL). Now: the token, the document with its
    # space and the professional's standing on it, the audit entry's 2 (and SQLite's BEGIN).
    _within(
        recorded, Budget(7, sqlite=5, postgresql=4), "professional GET /fhir/DocumentReference"
    )
    _log_intact(database, settings)


@pytest.mark.parametrize("count", [1, 3])
def test_an_iti65_bundle(
    client: TestClient, database: Database, settings: Settings, count: int
) -> None:
    """ITI-65 with n documents: 10 + 3n statements (the issue's budget, reached), the audit
    entries of the Bundle appended together at its commit."""
    who = people(database)
    bundle = provide_bundle(who.nir, who.rpps, [pdf(f"bilan {n}") for n in range(count)])
    with recording() as recorded:
        answer = fhir_json(client.post("/fhir", json=bundle, headers=who.pro))
    assert answer["type"] == "transaction-response"
    assert all(e["response"]["status"] == "201 Created" for e in answer["entry"])
    assert len(answer["entry"]) == 1 + 2 * count
    assert _audited(database, "document.deposit") == count
    # Before: 21 and 51 (SQLite), 20 and 50 (PostgreSQL) for 1 and 3 documents; then 10 + n on
    # both: one statement per document (its row), the Bundle's audit entries in 2. Issue 14 put
    # the content work (PDF checks, encryption, the blobs' fsync) in a read-only transaction of
    # its own before the write transaction: 11 + n, the first deposit of a space creating its
    # data key there (the patient, then the space's switches, data key and the depositor's
    # standing, read in one statement).
    budget = 10 + 3 * count
    _within(recorded, Budget(budget, 11 + count, 11 + count), f"ITI-65 with {count} document(s)")
    _log_intact(database, settings)


def test_the_first_page_of_an_iti67_search(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """ITI-67, the professional's first page, audit entry included."""
    who = people(database)
    ids = _deposited(client, who, 3)
    query = f"patient.identifier={INS_NIR_SYSTEM}|{who.nir}"
    with recording() as recorded:
        bundle = fhir_json(client.get(f"/fhir/DocumentReference?{query}", headers=who.pro))
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == sorted(ids)
    # Issue: 6. Before: 19 (SQLite), 17 (PostgreSQL). Now: the token, the patient with their
    # space and the professional's standing, the page with its total and authors, the audit
    # entry's 2 (and SQLite's BEGIN).
    _within(recorded, Budget(6, sqlite=6, postgresql=5), "ITI-67 first page")
    _log_intact(database, settings)


def test_the_holders_portal_documents_page(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    """The holder's documents page in the portal, audit entry included."""
    holder = make_account(database)
    log_in(client, database)
    with database.transaction() as session:
        holder = session.get(Holder, holder.id)
        assert holder is not None
    for title in ("Bilan sanguin", "Radiographie"):
        deposit(database, vault, settings, holder, title)
    with recording() as recorded:
        page = client.get("/documents")
    assert page.status_code == 200
    assert "Bilan sanguin" in page.text and "Radiographie" in page.text
    # Issue: 8. Before: 24 (SQLite), 23 (PostgreSQL). Now: the portal session with the space
    # (its idle clock written only once a minute), the spaces the holder manages (one statement
    # for both relations), the folders, the page with its total and authors, the count of
    # documents awaiting announcement, the audit entry's 2 (and SQLite's BEGIN).
    _within(recorded, Budget(8, sqlite=8, postgresql=7), "portal GET /documents")
    _log_intact(database, settings)
