"""ITI-67 Find Document References and the Patient resource.

Searches go through `documents.service.search`, narrowed in SQL by the decision point: totals and
pages only ever count what the caller may read (today: the author and the holder side; ACC-1's
care team comes with access control). Rules: ID-1 (INS-NIR), ID-2 (RPPS), DOC-4 (invisible to
the patient), ACC-8 (searches and patient reads are audited).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.accounts.rules import INS_NIR_SYSTEM, RPPS_SYSTEM, make_nir
from carnet.audit.models import AuditEntry
from carnet.config import Settings
from carnet.db import Database
from tests.fhir.support import (
    CATEGORY,
    DISCHARGE_LETTER,
    LAB_REPORT,
    LOINC,
    VISIBILITY,
    People,
    deposit_one,
    fhir_json,
    locations,
    outcome,
    people,
)

UNKNOWN_NIR = make_nir(2, 1999, 12, "13", 55, 999)


def _search(client: TestClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    return fhir_json(client.get(f"/fhir/DocumentReference?{query}", headers=headers))


def _by_nir(who: People) -> str:
    return f"patient.identifier={INS_NIR_SYSTEM}|{who.nir}"


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


def _follow(client: TestClient, headers: dict[str, str], url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return fhir_json(client.get(parts.path, params=parse_qsl(parts.query), headers=headers))


def test_paging_links_and_totals_agree(
    client: TestClient, database: Database, settings: Settings
) -> None:
    who = people(database)
    made = {deposit_one(client, who)["id"] for _ in range(5)}
    page = _search(client, who.pro, f"{_by_nir(who)}&_count=2")
    assert page["total"] == 5
    assert len(page["entry"]) == 2
    assert all(e["search"]["mode"] == "match" for e in page["entry"])
    assert all(
        e["fullUrl"].startswith(f"{settings.base_url}/fhir/DocumentReference/")
        for e in page["entry"]
    )
    assert _link(page, "previous") is None
    assert (_link(page, "self") or "").startswith(f"{settings.base_url}/fhir/DocumentReference?")
    seen = _ids(page)
    pages = 1
    while (next_url := _link(page, "next")) is not None:
        page = _follow(client, who.pro, next_url)
        assert page["total"] == 5
        assert _link(page, "previous") is not None
        seen += _ids(page)
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == made
    last = _follow(client, who.pro, _link(page, "last") or "")
    assert _ids(last) == _ids(page)
    only_total = _search(client, who.pro, f"{_by_nir(who)}&_count=0")
    assert only_total["total"] == 5 and "entry" not in only_total
    newest_first = _ids(_search(client, who.pro, f"{_by_nir(who)}&_sort=-date&_count=5"))
    oldest_first = _ids(_search(client, who.pro, f"{_by_nir(who)}&_sort=date&_count=5"))
    assert newest_first == oldest_first[::-1]


def test_filters(client: TestClient, database: Database) -> None:
    """type, category, date, period, author.identifier, status (commas mean OR)."""
    who = people(database)
    with clock.frozen_at(dt.datetime(2025, 1, 10, 9, tzinfo=dt.UTC)):
        lab = deposit_one(
            client,
            who,
            type_code=LAB_REPORT,
            context={"period": {"start": "2025-01-08", "end": "2025-01-09T12:00:00Z"}},
        )
    with clock.frozen_at(dt.datetime(2025, 3, 15, 9, tzinfo=dt.UTC)):
        letter = deposit_one(
            client,
            who,
            type_code=DISCHARGE_LETTER,
            context={"period": {"start": "2025-03-01T10:00:00+01:00"}},
        )
    base = _by_nir(who)

    def ids(query: str) -> set[str]:
        bundle = _search(client, who.pro, f"{base}&{query}")
        assert bundle["total"] == len(_ids(bundle))
        return set(_ids(bundle))

    assert ids(f"type={LOINC}|{LAB_REPORT}") == {lab["id"]}
    assert ids(f"type={DISCHARGE_LETTER}") == {letter["id"]}
    assert ids(f"type={LAB_REPORT},{DISCHARGE_LETTER}") == {lab["id"], letter["id"]}
    assert ids(f"type={LAB_REPORT}&type={DISCHARGE_LETTER}") == set()  # repeats mean AND
    assert ids(f"category={CATEGORY}|CPT_REND") == {letter["id"]}
    assert ids("category=BIOLOGIE,CPT_REND") == {lab["id"], letter["id"]}
    assert ids("date=ge2025-02-01") == {letter["id"]}
    assert ids("date=lt2025-02") == {lab["id"]}
    assert ids("date=2025-01-10") == {lab["id"]}
    assert ids("date=eq2025-01") == {lab["id"]}
    assert ids("date=ge2025-01-01&date=le2025-12-31") == {lab["id"], letter["id"]}
    assert ids("date=gt2025-03-15T09:00:00Z") == set()
    assert ids("period=ge2025-02-01") == {letter["id"]}
    assert ids("period=le2025-01-31") == {lab["id"]}
    assert ids(f"author.identifier={RPPS_SYSTEM}|{who.rpps}") == {lab["id"], letter["id"]}
    assert ids(f"author.identifier={who.other_rpps}") == set()
    assert ids("status=current") == {lab["id"], letter["id"]}
    assert ids("status=superseded,entered-in-error") == set()


def test_search_refuses_unknown_parameters_listing_them(
    client: TestClient, database: Database
) -> None:
    """Strict handling: every unknown or malformed parameter is an issue of its own."""
    who = people(database)
    response = client.get(
        f"/fhir/DocumentReference?{_by_nir(who)}&foo=1&_elements=id&date=xx2025&status=done"
        "&type=http://snomed.info/sct|123&_count=-1&_sort=title",
        headers=who.pro,
    )
    issues = outcome(response, 400)
    assert locations(issues) == [
        "_elements",
        "foo",
        "type",
        "status",
        "date",
        "_count",
        "_sort",
    ]
    assert issues[0]["code"] == "not-supported"
    missing = outcome(client.get("/fhir/DocumentReference?type=11502-2", headers=who.pro), 400)
    assert locations(missing) == ["patient"]
    bad_nir = outcome(
        client.get(
            f"/fhir/DocumentReference?patient.identifier={INS_NIR_SYSTEM}|12", headers=who.pro
        ),
        400,
    )
    assert "ID-1" in bad_nir[0]["details"]["text"]


def test_patient_aliases(client: TestClient, database: Database) -> None:
    who = people(database)
    made = deposit_one(client, who)
    for query in (
        f"patient=Patient/{who.holder_id}",
        f"patient={who.holder_id}",
        f"subject=Patient/{who.holder_id}",
        f"subject.identifier={INS_NIR_SYSTEM}|{who.nir}",
        f"patient.identifier={who.nir}",
    ):
        assert _ids(_search(client, who.pro, query)) == [made["id"]], query
    nobody = _search(client, who.pro, f"patient.identifier={INS_NIR_SYSTEM}|{UNKNOWN_NIR}")
    assert nobody["total"] == 0


def test_the_holder_finds_their_documents_through_fhir(
    client: TestClient, database: Database
) -> None:
    """The same ids as everywhere; DOC-4: not what awaits the announcement consultation."""
    who = people(database)
    visible = deposit_one(client, who)
    hidden = deposit_one(
        client,
        who,
        securityLabel=[{"coding": [{"system": VISIBILITY, "code": "INVISIBLE_PATIENT"}]}],
    )
    mine = _search(client, who.holder, f"patient=Patient/{who.holder_id}")
    assert _ids(mine) == [visible["id"]] and mine["total"] == 1
    assert _ids(_search(client, who.holder, "")) == [visible["id"]]  # their own space by default
    assert set(_ids(_search(client, who.pro, _by_nir(who)))) == {visible["id"], hidden["id"]}
    outcome(client.get(f"/fhir/DocumentReference/{hidden['id']}", headers=who.holder), 404)
    fhir_json(client.get(f"/fhir/DocumentReference/{visible['id']}", headers=who.holder))


def test_another_professional_sees_nothing(client: TestClient, database: Database) -> None:
    """ACC-1: not the author, not in the care team → total 0, reads answer 404."""
    who = people(database)
    made = deposit_one(client, who)
    theirs = _search(client, who.other, _by_nir(who))
    assert theirs["total"] == 0 and "entry" not in theirs
    outcome(client.get(f"/fhir/DocumentReference/{made['id']}", headers=who.other), 404)
    outcome(client.get(f"/fhir/Binary/{made['id']}", headers=who.other), 404)
    with database.transaction() as session:
        denied = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_id == made["id"])
        ).all()
    assert "document.read-metadata-denied" in denied  # ACC-8: refused reads are recorded


def test_patient_search_and_read(client: TestClient, database: Database) -> None:
    """ID-1: a professional finds a patient by INS-NIR; reads are audited (ACC-8)."""
    who = people(database, birth_name="CURIE", first_names="Marie Salomea", sex="F")
    found = fhir_json(
        client.get(f"/fhir/Patient?identifier={INS_NIR_SYSTEM}|{who.nir}", headers=who.pro)
    )
    assert found["total"] == 1
    patient = found["entry"][0]["resource"]
    assert patient["id"] == str(who.holder_id)
    assert patient["identifier"] == [
        {"use": "official", "system": INS_NIR_SYSTEM, "value": who.nir}
    ]
    assert patient["name"][0] == {
        "use": "official",
        "family": "CURIE",
        "given": ["Marie", "Salomea"],
    }
    assert patient["gender"] == "female" and patient["birthDate"] == "1980-01-01"
    assert patient["active"] is True
    assert fhir_json(client.get(f"/fhir/Patient/{who.holder_id}", headers=who.holder)) == patient
    with database.transaction() as session:
        reads = session.scalars(
            select(AuditEntry.action).where(AuditEntry.holder_id == who.holder_id)
        ).all()
    assert reads.count("patient.read") == 2
    outcome(client.get("/fhir/Patient?name=CURIE", headers=who.pro), 400)
    assert (
        fhir_json(
            client.get(f"/fhir/Patient?identifier={INS_NIR_SYSTEM}|{UNKNOWN_NIR}", headers=who.pro)
        )["total"]
        == 0
    )
    outcome(client.get("/fhir/Patient/not-a-uuid", headers=who.pro), 404)


def test_patients_are_not_shown_to_unrelated_holders_or_for_closed_spaces(
    client: TestClient, database: Database
) -> None:
    who = people(database)
    stranger = people(database)
    outcome(client.get(f"/fhir/Patient/{who.holder_id}", headers=stranger.holder), 404)
    closed = people(database, state="closed")
    outcome(client.get(f"/fhir/Patient/{closed.holder_id}", headers=who.pro), 404)
    assert (
        fhir_json(
            client.get(f"/fhir/Patient?identifier={INS_NIR_SYSTEM}|{closed.nir}", headers=who.pro)
        )["total"]
        == 0
    )
    with database.transaction() as session:
        denied = session.scalars(
            select(AuditEntry.action).where(AuditEntry.holder_id == closed.holder_id)
        ).all()
    assert denied == ["patient.read-denied", "patient.read-denied"]


def _audit_count(database: Database) -> int:
    with database.transaction() as session:
        return len(session.scalars(select(AuditEntry)).all())


def test_search_by_post_answers_as_by_get(client: TestClient, database: Database) -> None:
    """MHD: POST `_search` with a form body, merged with the query string, answers the GET's
    search (same entries, total and links), audited the same way; other bodies are refused."""
    who = people(database)
    made = {deposit_one(client, who)["id"] for _ in range(3)}
    by_get = _search(client, who.pro, f"{_by_nir(who)}&status=current&_count=2")
    before = _audit_count(database)
    by_post = fhir_json(
        client.post(
            "/fhir/DocumentReference/_search?_count=2",
            data={"patient.identifier": f"{INS_NIR_SYSTEM}|{who.nir}", "status": "current"},
            headers=who.pro,
        )
    )
    after_post = _audit_count(database)
    _search(client, who.pro, f"{_by_nir(who)}&status=current&_count=2")
    assert _audit_count(database) - after_post == after_post - before > 0
    assert by_post["total"] == by_get["total"] == 3
    assert [e["fullUrl"] for e in by_post["entry"]] == [e["fullUrl"] for e in by_get["entry"]]
    assert [e["resource"] for e in by_post["entry"]] == [e["resource"] for e in by_get["entry"]]
    assert {(n, _link(by_post, n) is None) for n in ("next", "previous")} == {
        (n, _link(by_get, n) is None) for n in ("next", "previous")
    }
    assert set(_ids(by_post)) <= made
    unknown = client.post(
        "/fhir/DocumentReference/_search", data={"nonsense": "1"}, headers=who.pro
    )
    assert "nonsense" in locations(outcome(unknown, 400))
    as_json = client.post(
        "/fhir/DocumentReference/_search",
        json={"patient.identifier": who.nir},
        headers=who.pro,
    )
    assert outcome(as_json, 415)[0]["severity"] == "error"
    assert client.post("/fhir/DocumentReference/_search", data={}).status_code == 401


def test_id_and_last_updated(client: TestClient, database: Database) -> None:
    """`_id` (commas OR, repeats AND, a non-Carnet id matches nothing) and `_lastUpdated` with
    the FHIR prefixes, on `meta.lastUpdated`, counted in SQL like every criterion."""
    who = people(database)
    with clock.frozen_at(dt.datetime(2025, 1, 10, 9, tzinfo=dt.UTC)):
        first = deposit_one(client, who)
    with clock.frozen_at(dt.datetime(2025, 3, 15, 9, tzinfo=dt.UTC)):
        second = deposit_one(client, who)
    base = _by_nir(who)

    def ids(query: str) -> set[str]:
        bundle = _search(client, who.pro, f"{base}&{query}")
        assert bundle["total"] == len(_ids(bundle))
        return set(_ids(bundle))

    assert first["meta"]["lastUpdated"].startswith("2025-01-10")
    assert ids(f"_id={first['id']}") == {first["id"]}
    assert ids(f"_id={first['id']},{second['id']}") == {first["id"], second["id"]}
    assert ids(f"_id={first['id']},{second['id']}&_id={second['id']}") == {second["id"]}
    assert ids("_id=not-a-carnet-id") == set()
    assert ids(f"_id={first['id']}&_lastUpdated=ge2025-02-01") == set()
    assert ids("_lastUpdated=ge2025-02-01") == {second["id"]}
    assert ids("_lastUpdated=gt2025-03-15T09:00:00Z") == set()
    assert ids("_lastUpdated=lt2025-03-15") == {first["id"]}
    assert ids("_lastUpdated=le2025-03-15") == {first["id"], second["id"]}
    assert ids("_lastUpdated=eq2025-01") == {first["id"]}
    assert ids("_lastUpdated=2025-03-15T09:00:00Z") == {second["id"]}
    issues = outcome(
        client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": who.nir, "_lastUpdated": "sa2025", "_id": ""},
            headers=who.pro,
        ),
        400,
    )
    assert set(locations(issues)) == {"_lastUpdated", "_id"}


def test_prefer_handling_lenient_ignores_unknown_parameters_and_says_so(
    client: TestClient, database: Database
) -> None:
    """Strict by default (400); with `Prefer: handling=lenient` unknown parameters are left out
    of the search and of its links, and listed in an OperationOutcome entry (mode `outcome`)."""
    who = people(database)
    made = deposit_one(client, who)
    query = f"{_by_nir(who)}&setting=x&facility=y"
    strict = client.get(f"/fhir/DocumentReference?{query}", headers=who.pro)
    assert set(locations(outcome(strict, 400))) == {"setting", "facility"}
    lenient = {**who.pro, "Prefer": "return=representation, handling=lenient"}
    bundle = fhir_json(client.get(f"/fhir/DocumentReference?{query}", headers=lenient))
    assert bundle["total"] == 1
    matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert [e["resource"]["id"] for e in matches] == [made["id"]]
    told = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(told) == 1 and told[0]["resourceType"] == "OperationOutcome"
    assert sorted(locations(told[0]["issue"])) == ["facility", "setting"]
    assert all(i["severity"] == "warning" for i in told[0]["issue"])
    assert "setting" not in (_link(bundle, "self") or "")
    by_post = fhir_json(
        client.post(
            "/fhir/DocumentReference/_search",
            data={"patient.identifier": who.nir, "event": "z"},
            headers={**who.pro, "Prefer": "handling=lenient"},
        )
    )
    assert [e["resource"]["id"] for e in by_post["entry"] if e["search"]["mode"] == "match"] == [
        made["id"]
    ]
    # Known parameters keep their rules; nothing to ignore: no outcome entry.
    bad = client.get(
        f"/fhir/DocumentReference?{_by_nir(who)}&date=xx", headers=lenient
    )
    assert locations(outcome(bad, 400)) == ["date"]
    clean = fhir_json(client.get(f"/fhir/DocumentReference?{_by_nir(who)}", headers=lenient))
    assert all(e["search"]["mode"] == "match" for e in clean["entry"])
    patients = fhir_json(
        client.get(
            "/fhir/Patient",
            params={"identifier": f"{INS_NIR_SYSTEM}|{who.nir}", "name": "x"},
            headers=lenient,
        )
    )
    assert patients["total"] == 1
    assert [e["search"]["mode"] for e in patients["entry"]] == ["match", "outcome"]
    strict_patients = client.get(
        "/fhir/Patient", params={"identifier": who.nir, "name": "x"}, headers=who.pro
    )
    assert locations(outcome(strict_patients, 400)) == ["name"]
