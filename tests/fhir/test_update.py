"""Metadata updates by PUT of the whole DocumentReference: only status and securityLabel change.

DOC-6: the author withdraws its document (entered-in-error). DOC-4: the author releases a document
held back until the announcement consultation. REP-2: the author toggles invisible-to-
representatives. DOC-3: masking belongs to the holder. Anything else changed → 422 listing it.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from carnet.db import Database
from tests.fhir.support import (
    VISIBILITY,
    People,
    deposit_one,
    fhir_json,
    locations,
    outcome,
    people,
)


def _label(code: str) -> dict[str, Any]:
    return {"coding": [{"system": VISIBILITY, "code": code}]}


def _without(resource: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [label for label in resource["securityLabel"] if label["coding"][0]["code"] != code]


def _codes(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for label in resource["securityLabel"] for c in label["coding"]}


def _put(client: TestClient, who: People, resource: dict[str, Any], headers: Any = None) -> Any:
    return client.put(
        f"/fhir/DocumentReference/{resource['id']}", json=resource, headers=headers or who.pro
    )


def test_the_author_withdraws_a_document(client: TestClient, database: Database) -> None:
    """DOC-6: entered-in-error; the holder no longer sees it, the author still does."""
    who = people(database)
    made = deposit_one(client, who)
    fhir_json(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.holder))
    withdrawn = copy.deepcopy(made)
    withdrawn["status"] = "entered-in-error"
    updated = fhir_json(_put(client, who, withdrawn))
    assert updated["status"] == "entered-in-error"
    outcome(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.holder), 404)
    assert (
        fhir_json(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.pro))["status"]
        == "entered-in-error"
    )
    back = copy.deepcopy(updated)
    back["status"] = "current"
    issues = outcome(_put(client, who, back), 422)
    assert locations(issues) == ["DocumentReference.status"]


def test_the_author_releases_a_document_awaiting_the_announcement(
    client: TestClient, database: Database
) -> None:
    """DOC-4: removing INVISIBLE_PATIENT makes it visible to the holder at once."""
    who = people(database)
    made = deposit_one(client, who, securityLabel=[_label("INVISIBLE_PATIENT")])
    assert "INVISIBLE_PATIENT" in _codes(made)
    outcome(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.holder), 404)
    released = copy.deepcopy(made)
    released["securityLabel"] = [
        *_without(made, "INVISIBLE_PATIENT"),
        _label("INVISIBLE_REPRESENTANTS_LEGAUX"),
    ]
    updated = fhir_json(_put(client, who, released))
    assert _codes(updated) == {"N", "INVISIBLE_REPRESENTANTS_LEGAUX"}
    fhir_json(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.holder))
    # Once visible, it cannot be hidden again (409), and only the holder masks (DOC-3, 403).
    hidden = copy.deepcopy(updated)
    hidden["securityLabel"].append(_label("INVISIBLE_PATIENT"))
    assert locations(outcome(_put(client, who, hidden), 409)) == ["DocumentReference.securityLabel"]
    masked = copy.deepcopy(updated)
    masked["securityLabel"].append(_label("MASQUE_PS"))
    assert locations(outcome(_put(client, who, masked), 403)) == ["DocumentReference.securityLabel"]
    # Toggling invisible-to-representatives back (REP-2).
    shown = copy.deepcopy(updated)
    shown["securityLabel"] = _without(updated, "INVISIBLE_REPRESENTANTS_LEGAUX")
    assert _codes(fhir_json(_put(client, who, shown))) == {"N"}


def test_other_changes_are_refused_listing_them(client: TestClient, database: Database) -> None:
    who = people(database)
    made = deposit_one(client, who)
    changed = copy.deepcopy(made)
    changed["description"] = "Renamed"
    changed["type"]["coding"][0]["code"] = "11490-0"
    changed["status"] = "superseded"
    issues = outcome(_put(client, who, changed), 422)
    assert locations(issues) == [
        "DocumentReference.description",
        "DocumentReference.type",
        "DocumentReference.status",
    ]
    wrong_id = copy.deepcopy(made)
    wrong_id["id"] = "00000000-0000-0000-0000-000000000000"
    response = client.put(f"/fhir/DocumentReference/{made['id']}", json=wrong_id, headers=who.pro)
    assert locations(outcome(response, 400)) == ["DocumentReference.id"]
    unchanged = fhir_json(_put(client, who, made))
    assert unchanged["status"] == "current"


def test_only_the_author_updates(client: TestClient, database: Database) -> None:
    """A professional who cannot read it gets 404; the holder has no PUT (403)."""
    who = people(database)
    made = deposit_one(client, who)
    withdrawn = copy.deepcopy(made)
    withdrawn["status"] = "entered-in-error"
    outcome(_put(client, who, withdrawn, headers=who.other), 404)
    outcome(_put(client, who, withdrawn, headers=who.holder), 403)
    assert (
        fhir_json(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.pro))["status"]
        == "current"
    )
