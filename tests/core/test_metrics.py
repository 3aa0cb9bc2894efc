"""`GET /metrics`: the operator's figures in Prometheus format, behind the scraper's token, and
never a person's data in them (issue 17; docs/deploy.md)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from carnet import metrics
from carnet.app import create_app
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import NotFound
from carnet.notifications.service import enqueue
from carnet.vault.blobstore import LocalBlobStore
from carnet.vault.service import Vault
from tests.factories import make_holder


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def scraped(
    settings: Settings, database: Database, vault: Vault, token: str
) -> Iterator[TestClient]:
    """A client of an app whose operator set CARNET_METRICS_TOKEN."""
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(token)}), database)
    app.state.vault = vault
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _scrape(client: TestClient, token: str) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def _value(text: str, name: str, **labels: str) -> float:
    """The sample `name` with exactly `labels` in the exposition `text`; 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_a_request_is_counted_under_its_route_template_and_status(
    scraped: TestClient, token: str
) -> None:
    before = _scrape(scraped, token)
    assert scraped.get("/healthz").status_code == 200
    after = _scrape(scraped, token)

    counted = {"route": "/healthz", "method": "GET", "status": "200"}
    assert _value(after, "carnet_http_requests_total", **counted) == (
        _value(before, "carnet_http_requests_total", **counted) + 1
    )
    latency = "carnet_http_request_duration_seconds_count"
    assert _value(after, latency, route="/healthz") == _value(before, latency, route="/healthz") + 1


def test_no_nir_name_or_title_reaches_the_metrics(
    scraped: TestClient, token: str, database: Database
) -> None:
    with database.transaction() as session:
        holder = make_holder(session, birth_name="QUENTINOVSKA")
        bearer, _ = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder.id), ttl=dt.timedelta(hours=1)
        )
        nir = holder.nir
    title = "Compte-rendu-oncologie-Quentinovska"
    headers = {"Authorization": f"Bearer {bearer}"}
    counted, route = "carnet_http_requests_total", "/fhir/Patient/{patient_id}"
    before = _value(_scrape(scraped, token), counted, route=route, method="GET", status="404")

    unknown = scraped.get(f"/fhir/Patient/{nir}?name=QUENTINOVSKA&title={title}", headers=headers)
    assert unknown.status_code == 404
    assert scraped.get(f"/nowhere/{nir}/{title}").status_code == 404
    scraped.request("X" + nir, "/healthz")  # a made-up method is no label of its own
    text = _scrape(scraped, token)

    for personal in (nir, "QUENTINOVSKA", "Quentinovska", title):
        assert personal not in text
    assert _value(text, counted, route=route, method="GET", status="404") == before + 1
    assert _value(text, counted, route="(unmatched)", method="GET", status="404") >= 1
    assert _value(text, counted, route="/healthz", method="other", status="405") >= 1


def test_the_queue_depths_count_a_waiting_e_mail(
    scraped: TestClient, token: str, database: Database
) -> None:
    assert _value(_scrape(scraped, token), "carnet_queue_depth", queue="outbox") == 0
    with database.transaction() as session:
        enqueue(
            session,
            kind="test",
            recipient="someone@example.org",
            subject="A subject",
            body_text="A body.",
        )
    text = _scrape(scraped, token)
    assert _value(text, "carnet_queue_depth", queue="outbox") == 1
    assert "someone@example.org" not in text
    assert _value(text, "carnet_queue_depth", queue="jobs") == 0


def test_metrics_do_not_exist_without_the_token_setting(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_metrics_refuse_a_missing_or_wrong_token(scraped: TestClient, token: str) -> None:
    assert scraped.get("/metrics").status_code == 401
    wrong = scraped.get("/metrics", headers={"Authorization": f"Bearer {token}x"})
    assert wrong.status_code == 401
    assert "carnet_" not in wrong.text
    basic = scraped.get("/metrics", headers={"Authorization": f"Basic {token}"})
    assert basic.status_code == 401


def test_blob_store_failures_are_counted(tmp_path: Path) -> None:
    def failures(operation: str) -> float:
        value = metrics.REGISTRY.get_sample_value(
            "carnet_blob_store_errors_total", {"operation": operation}
        )
        return value or 0.0

    opened, put = failures("open"), failures("put")
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(NotFound):
        store.open("0" * 32)
    assert failures("open") == opened + 1

    (tmp_path / "blobs").mkdir()
    for prefix in range(256):  # files wherever the store wants its directories of blobs
        (tmp_path / "blobs" / f"{prefix:02x}").write_bytes(b"")
    with pytest.raises(OSError):
        store.put([b"ciphertext"])
    assert store.leftovers() == []
    assert failures("put") == put + 1


def test_a_group_commit_reports_its_size(
    scraped: TestClient, token: str, database: Database
) -> None:
    """A holder reading their Patient resource is audited; the entry of that pure read joins a
    group commit, whose size the histogram records."""
    with database.transaction() as session:
        holder = make_holder(session)
        bearer, _ = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder.id), ttl=dt.timedelta(hours=1)
        )
    before = _scrape(scraped, token)
    read = scraped.get(f"/fhir/Patient/{holder.id}", headers={"Authorization": f"Bearer {bearer}"})
    assert read.status_code == 200
    after = _scrape(scraped, token)

    commits = "carnet_audit_group_commit_entries_count"
    entries = "carnet_audit_group_commit_entries_sum"
    assert _value(after, commits) == _value(before, commits) + 1
    assert _value(after, entries) >= _value(before, entries) + 1
