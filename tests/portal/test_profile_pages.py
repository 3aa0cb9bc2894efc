"""The medical profile, the health story and "download my data" in the portal (issue 7; ACC-7,
ACC-8, REP-1, SRV-5): the same services as the API decide, the pages say it in the person's
language, impossible measurements are refused with a clear message and nothing is kept."""

from __future__ import annotations

import datetime as dt
import html
import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from carnet.export import archive as export_archive
from carnet.profile.models import MeasurementTarget, ProfileEntry
from carnet.vault.service import Vault
from tests.portal.support import csrf_of, deposit, log_in, make_account, make_child, post
from tests.profile.growth_support import SOURCE, write_reference

PAST = (clock.today() - dt.timedelta(days=20)).isoformat()


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.text)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"growth_reference_file": write_reference(tmp_path / "growth.csv", step=60)}
    )


def _entries(database: Database, section: str) -> int:
    with database.transaction() as session:
        return len(
            session.scalars(
                select(ProfileEntry).where(
                    ProfileEntry.section == section, ProfileEntry.deleted_at.is_(None)
                )
            ).all()
        )


def test_pages_need_a_session_and_forms_need_the_token(
    client: TestClient, database: Database
) -> None:
    for path in ("/medical-profile", "/medical-profile/illness", "/health-story", "/my-data"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    make_account(database)
    log_in(client, database)
    for path in ("/medical-profile/illness", "/measurement-targets", "/my-data"):
        response = client.post(path, data={"csrf_token": "forged"}, follow_redirects=False)
        assert response.status_code == 403, path
    home = text(client.get("/home"))
    for href, label in (
        ("/medical-profile", "Profil médical"),
        ("/health-story", "Mon histoire de santé"),
        ("/my-data", "Télécharger mes données"),
    ):
        assert f'href="{href}"' in home and label in home
    assert client.get("/medical-profile/horoscope").status_code == 404


def test_a_section_round_trips_with_its_history(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    page = client.get("/medical-profile/illness")
    assert page.status_code == 200 and "<title>Maladies – Carnet</title>" in page.text
    added = post(
        client,
        "/medical-profile/illness",
        {"label": "Asthme", "status": "current", "since": "2001-05-01", "note": ""},
        page="/medical-profile/illness",
    )
    assert added.status_code == 303
    body = text(client.get("/medical-profile/illness"))
    assert "Asthme" in body and "Le profil médical est enregistré." in body
    with database.transaction() as session:
        entry_id = session.scalars(select(ProfileEntry.id)).one()
    changed = post(
        client,
        f"/medical-profile/illness/{entry_id}",
        {"label": "Asthme", "status": "past", "since": "2001-05-01"},
        page="/medical-profile/illness",
    )
    assert changed.status_code == 303
    assert "<dd>Passé</dd>" in text(client.get("/medical-profile/illness"))  # État : Passé
    for _ in range(2):  # the second delete finds nothing and still answers calmly
        deleted = post(
            client, f"/medical-profile/illness/{entry_id}/delete", page="/medical-profile/illness"
        )
        assert deleted.status_code == 303
    assert _entries(database, "illness") == 0
    history = text(client.get(f"/medical-profile/illness/{entry_id}/history"))
    assert "Historique des modifications" in history
    for change in ("Ajouté", "Modifié", "Supprimé"):
        assert change in history
    assert "Par Vous (le titulaire)" in history
    overview = text(client.get("/medical-profile"))
    assert "Vaccinations" in overview and "Contacts et volontés" in overview


def test_an_impossible_measurement_is_refused_in_words(
    client: TestClient, database: Database
) -> None:
    make_account(database)
    log_in(client, database)
    page = "/medical-profile/measurement"
    refused = post(
        client, page, {"kind": "weight", "value": "900", "date": PAST, "note": ""}, page=page
    )
    assert refused.status_code == 400
    body = text(refused)
    assert "Valeur impossible pour poids : saisissez une valeur entre 0,2 et 400 kg." in body
    assert 'aria-invalid="true"' in body
    assert _entries(database, "measurement") == 0
    future = (clock.today() + dt.timedelta(days=3)).isoformat()
    refused = post(client, page, {"kind": "weight", "value": "70", "date": future}, page=page)
    assert refused.status_code == 400 and "Une date ne peut pas être dans le futur." in text(
        refused
    )
    steps = post(client, page, {"kind": "steps", "value": "120,5", "date": PAST}, page=page)
    assert "Nombre de pas par jour se compte en nombres entiers." in text(steps)
    ok = post(client, page, {"kind": "weight", "value": "72,5", "date": PAST}, page=page)
    assert ok.status_code == 303
    assert "Poids — 72,5 kg" in text(client.get(page))


def test_targets_against_the_latest_value(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    page = "/medical-profile/measurement"
    post(client, page, {"kind": "hba1c", "value": "7,9", "date": PAST}, page=page)
    refused = post(client, "/measurement-targets", {"kind": "hba1c", "high": "55"}, page=page)
    assert refused.status_code == 400
    assert "Valeur impossible pour hba1c : saisissez une valeur entre 3 et 20 %." in text(refused)
    saved = post(
        client, "/measurement-targets", {"kind": "hba1c", "high": "7", "low": ""}, page=page
    )
    assert saved.status_code == 303
    body = text(client.get(page))
    assert "au plus 7 %" in body and "Au-dessus de l'objectif" in body
    removed = post(client, "/measurement-targets/hba1c/delete", page=page)
    assert removed.status_code == 303
    with database.transaction() as session:
        assert session.scalars(select(MeasurementTarget)).all() == []


def test_a_parent_sees_the_childs_growth_curves(client: TestClient, database: Database) -> None:
    parent = make_account(database)
    child = make_child(database, parent, birth_date=clock.today() - dt.timedelta(days=900))
    log_in(client, database)
    switched = post(client, "/profile", {"space_id": str(child.id), "next": "/medical-profile"})
    assert switched.headers["location"] == "/medical-profile"
    page = "/medical-profile/measurement"
    for kind, value in (("weight", "12,5"), ("height", "88"), ("head_circumference", "48")):
        response = post(client, page, {"kind": kind, "value": value, "date": PAST}, page=page)
        assert response.status_code == 303, text(response)
    body = text(client.get(page))
    assert "Courbes de croissance" in body
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg"') == 4  # weight, height, head, BMI
    assert "<title" in body and "<desc" in body and "<polyline" in body and "<circle" in body
    assert f"Référence : {SOURCE}." in body
    assert "Percentile" in body and "<td>2 ans 5 mois</td>" in body  # the data table, in words
    with database.transaction() as session:
        modes = session.scalars(
            select(AuditEntry.mode).where(
                AuditEntry.holder_id == child.id, AuditEntry.action == "profile.create"
            )
        ).all()
    assert set(modes) == {"representative"}
    # an adult's own measurements page has no growth curves
    post(client, "/profile", {"space_id": str(parent.id), "next": "/medical-profile"})
    assert "Courbes de croissance" not in text(client.get(page))


def test_health_story_filters_by_period_and_category(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    holder = make_account(database)
    deposit(database, vault, settings, holder, "Bilan sanguin")
    log_in(client, database)
    page = "/medical-profile/vaccination"
    post(
        client,
        page,
        {"vaccine": "DTP", "date": "2020-03-04", "dose_number": "2", "booster": "on"},
        page=page,
    )
    body = text(client.get("/health-story?by=year"))
    assert "Mon histoire de santé" in body and "2 événements." in body
    assert "<h2" in body and "2020" in body and "DTP" in body and "Bilan sanguin" in body
    only = text(client.get("/health-story?by=day&category=vaccination"))
    assert "DTP" in only and "Bilan sanguin" not in only and "mercredi 4 mars 2020" in only
    assert client.get("/health-story?by=decade&category=nope").status_code == 200
    english = client.get("/health-story", headers={"Accept-Language": "en"})
    assert "My health story" in english.text


def test_download_my_data(
    client: TestClient, database: Database, vault: Vault, settings: Settings
) -> None:
    make_account(database)
    log_in(client, database)
    assert "Aucune demande pour le moment." in text(client.get("/my-data"))
    for _ in range(2):  # a second request while one is pending adds nothing
        response = post(client, "/my-data", page="/my-data")
        assert response.status_code == 303
    body = text(client.get("/my-data"))
    assert "En préparation" in body and body.count("En préparation") == 1
    export_archive.build_pending(database, settings)
    body = client.get("/my-data").text
    assert "Télécharger le fichier ZIP" in html.unescape(body)
    link = body.split('href="/my-data/')[1].split('"')[0]
    zipped = client.get(f"/my-data/{link}")
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    assert "mon-espace/fhir-bundle.json" in zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    other = client.get("/my-data/00000000-0000-0000-0000-000000000000/download")
    assert other.status_code == 404
    assert csrf_of(client.get("/my-data").text)
