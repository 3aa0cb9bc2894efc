"""The growth curves' page without a configured reference (issue 16): Carnet ships none, so the
page says in plain words what the person sees (points without percentiles), who alone can add a
reference (the operator, with CARNET_GROWTH_REFERENCE_FILE) and what to do meanwhile, in French
and English."""

from __future__ import annotations

import datetime as dt
import html

from fastapi.testclient import TestClient

from carnet import clock
from carnet.db import Database
from tests.portal.support import log_in, make_account, make_child, post

PAGE = "/medical-profile/measurement"


def test_without_a_reference_the_page_says_who_can_add_one(
    client: TestClient, database: Database
) -> None:
    parent = make_account(database)
    child = make_child(database, parent, birth_date=clock.today() - dt.timedelta(days=400))
    log_in(client, database)
    post(client, "/profile", {"space_id": str(child.id), "next": PAGE})
    day = (clock.today() - dt.timedelta(days=3)).isoformat()
    added = post(client, PAGE, {"kind": "weight", "value": "9,5", "date": day}, page=PAGE)
    assert added.status_code == 303
    french = html.unescape(client.get(PAGE).text)
    assert "Les mesures sont affichées en points, sans les courbes de référence" in french
    assert "Seul l'organisme qui gère ce service peut les ajouter" in french
    assert "CARNET_GROWTH_REFERENCE_FILE" in french
    assert "comparez les mesures avec les courbes du carnet de santé papier" in french
    assert "<circle" in french and "<polyline" not in french  # the point, no percentile line
    english = html.unescape(client.get(PAGE, headers={"Accept-Language": "en"}).text)
    assert "Only the organisation that runs this service can add them" in english
    assert "neither you nor your doctor can do it here" in english
