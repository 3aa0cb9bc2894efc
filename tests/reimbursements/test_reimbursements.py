"""Reimbursements: the insurer's feed → holder API and FHIR ExplanationOfBenefit.

Rules SRV-4 (reimbursements come from the feed), REP-2 (secret acts of minors are never stored),
ACC-7 (professionals do not see them), ACC-8 (imports and reads are audited, never with amounts).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet import clock
from carnet.accounts.models import Representation
from carnet.audit.models import AuditEntry
from carnet.audit.signing import load_signer
from carnet.audit.verify import verify
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import VaultError
from carnet.feeds import rejects_path
from carnet.reimbursements import importer
from carnet.reimbursements.importer import COLUMNS
from carnet.reimbursements.models import KEY_NAME, PURPOSE, Reimbursement
from carnet.vault.service import BulkSealer, Vault
from tests.accounts.test_family import headers_for
from tests.factories import make_holder
from tests.fhir.support import bearer, fhir_json, outcome, people, schema_errors

API = "/api/v1/me/reimbursements"
RPPS = "10000000017"  # a valid Luhn RPPS: make_rpps(1000000001)
NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"


def line(nir: str, **values: str) -> dict[str, str]:
    base = {
        "nir": nir,
        "care_date": "2026-01-10",
        "act_code": "G",
        "act_label": "Consultation de médecine générale",
        "professional_rpps": RPPS,
        "amount_charged": "30.00",
        "amount_reimbursed": "20.00",
        "payment_date": "2026-01-15",
        "confidential": "0",
    }
    base.update(values)
    return base


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def count(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(Reimbursement)) or 0


@pytest.fixture
def holder(database: Database) -> tuple[uuid.UUID, str]:
    with database.transaction() as session:
        h = make_holder(session)
        return h.id, h.nir


def test_round_trip_cli_to_api(
    tmp_path: Path, run_cli: Any, database: Database, client: TestClient, holder: Any
) -> None:
    """SRV-4: the feed's lines come back through the holder API, amounts and labels intact."""
    holder_id, nir = holder
    path = write_csv(
        tmp_path / "feed.csv",
        [
            line(nir),
            line(nir, care_date="2026-02-01", payment_date="2026-02-03", act_code="yyyy010",
                 act_label="Radiographie", amount_charged="45.5", amount_reimbursed="31.85",
                 professional_rpps=""),
        ],
    )  # fmt: skip
    status, out, err = run_cli("import-reimbursements", str(path))
    assert status == 0, err
    assert "2 imported, 0 unchanged, 0 secret, not stored (REP-2), 0 rejected." in " ".join(
        out.split()
    )
    assert "rows/s" in err  # the progress bar is on stderr
    assert not rejects_path(path).exists()
    answer = client.get(API, headers=headers_for(database, holder_id))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == 2
    first, second = body["items"]  # newest care first
    assert (first["care_date"], first["act_code"], first["act_label"]) == (
        "2026-02-01", "YYYY010", "Radiographie",
    )  # fmt: skip
    assert (first["amount_charged"], first["amount_reimbursed"]) == ("45.50", "31.85")
    assert first["professional_rpps"] is None
    assert second["act_label"] == "Consultation de médecine générale"
    assert (second["amount_charged"], second["amount_reimbursed"]) == ("30.00", "20.00")
    assert second["professional_rpps"] == RPPS
    only_feb = client.get(
        API, params={"from": "2026-02-01", "to": "2026-02-28"},
        headers=headers_for(database, holder_id),
    ).json()  # fmt: skip
    assert [i["act_code"] for i in only_feb["items"]] == ["YYYY010"]


def test_sealed_under_the_holders_key_and_audited_without_amounts(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, holder: Any
) -> None:
    """Amounts, act and professional are sealed (bound to holder+record+purpose); ACC-8: one
    import entry per holder and batch, with the count only; the chain verifies."""
    holder_id, nir = holder
    path = write_csv(tmp_path / "feed.csv", [line(nir), line(nir, care_date="2026-01-11")])
    report = importer.import_feed(database, vault, settings, path, batch_size=1)
    assert report.imported == 2
    with database.transaction() as session:
        rows = session.scalars(select(Reimbursement)).all()
        for row in rows:
            assert b"20.00" not in row.sealed and b"Consultation" not in row.sealed
            data = json.loads(vault.unseal_text(session, holder_id, row.id, PURPOSE, row.sealed))
            assert data["amount_reimbursed"] == "20.00"
            with pytest.raises(Exception):  # noqa: B017 - bound to the record
                vault.unseal_text(session, holder_id, uuid.uuid4(), PURPOSE, row.sealed)
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == importer.ACTION_IMPORT)
        ).all()
        assert len(entries) == 2  # batch_size=1: one entry per holder per batch
        for entry in entries:
            assert entry.holder_id == holder_id and entry.target_id == "1"
            assert "20" not in (entry.reason or "") and entry.detail is None
        assert verify(session, load_signer(settings.effective_audit_signing_key_file)).intact


def test_idempotent(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, holder: Any
) -> None:
    """The same file twice, and the same line twice in a file: stored once."""
    _holder_id, nir = holder
    path = write_csv(tmp_path / "feed.csv", [line(nir), line(nir), line(nir, amount_charged="30")])
    first = importer.import_feed(database, vault, settings, path)
    assert (first.imported, first.unchanged, first.rejected) == (1, 2, 0)
    second = importer.import_feed(database, vault, settings, path)
    assert (second.imported, second.unchanged) == (0, 3)
    assert count(database) == 1


def test_rep2_secret_lines_are_never_stored(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, client: TestClient
) -> None:
    """REP-2: a minor's secret act is counted, not stored — no row, no audit entry, no reject; the
    representative sees the child's other lines and nothing else."""
    with database.transaction() as session:
        parent = make_holder(session)
        child = make_holder(session, birth_date=clock.today() - dt.timedelta(days=365 * 15))
        session.add(
            Representation(minor_id=child.id, representative_id=parent.id,
                           representative_nir=parent.nir, role="managing", status="accepted")
        )  # fmt: skip
        parent_id, child_id, child_nir = parent.id, child.id, child.nir
    secret_label = "Contraception confidentielle"
    path = tmp_path / "feed.ndjson"
    path.write_text(
        json.dumps(line(child_nir)) + "\n"
        + json.dumps(line(child_nir, act_code="QZLB001", act_label=secret_label,
                          amount_charged=77.77, amount_reimbursed=55.55, confidential=1,
                          care_date="2026-01-20", payment_date="2026-01-22")) + "\n"  # type: ignore[arg-type]
        + json.dumps(line(child_nir, act_code="Y", confidential=True)) + "\n",  # type: ignore[arg-type]
        encoding="utf-8",
    )  # fmt: skip
    report = importer.import_feed(database, vault, settings, path)
    assert (report.imported, report.secret, report.rejected) == (1, 2, 0)
    assert not rejects_path(path).exists()
    with database.transaction() as session:
        rows = session.scalars(select(Reimbursement)).all()
        assert len(rows) == 1
        for row in rows:  # scan what is stored: nothing of the secret acts
            text = vault.unseal_text(session, row.holder_id, row.id, PURPOSE, row.sealed)
            assert "QZLB001" not in text and secret_label not in text and "77.77" not in text
            assert row.care_date != dt.date(2026, 1, 20)
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == importer.ACTION_IMPORT)
        ).all()
        assert [e.target_id for e in entries] == ["1"]
    seen = client.get(API, headers=headers_for(database, parent_id, child_id))
    assert seen.status_code == 200, seen.text
    assert [i["act_code"] for i in seen.json()["items"]] == ["G"]
    bundle = fhir_json(
        client.get(
            "/fhir/ExplanationOfBenefit",
            params={"patient": f"Patient/{child_id}"},
            headers=headers_for(database, parent_id),
        )
    )
    assert bundle["total"] == 1


BAD = [
    ({"nir": "180017512345678"}, "nir"),
    ({"nir": ""}, "nir"),
    ({"care_date": "2026-13-01"}, "care_date"),
    ({"care_date": "10/01/2026"}, "care_date"),
    ({"care_date": "2999-01-01", "payment_date": "2999-01-02"}, "care_date"),
    ({"payment_date": "2026-01-09"}, "payment_date"),
    ({"amount_charged": "30,00"}, "amount_charged"),
    ({"amount_charged": "30.001"}, "amount_charged"),
    ({"amount_reimbursed": "-1"}, "amount_reimbursed"),
    ({"amount_reimbursed": "31.00"}, "amount_reimbursed"),
    ({"professional_rpps": "10000000018"}, "professional_rpps"),
    ({"act_code": ""}, "act_code"),
    ({"confidential": "peut-être"}, "confidential"),
]


def test_each_bad_input_is_a_rejects_line(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, holder: Any
) -> None:
    """Every malformed line is one line of FILE.rejects.csv naming the field, never the value."""
    _holder_id, nir = holder
    with database.transaction() as session:
        closed = make_holder(session, state="closed")
        notified = make_holder(session, state="notified")
        closed_nir, notified_nir = closed.nir, notified.nir
    rows = [{**line(nir), **change} for change, _field in BAD]
    rows.append(line("255081416802538"))  # valid key, nobody in Carnet
    rows.append(line(closed_nir))
    rows.append(line(notified_nir))
    rows.append(line(nir))  # the good one
    path = write_csv(tmp_path / "feed.csv", rows)
    report = importer.import_feed(database, vault, settings, path)
    assert (report.imported, report.rejected) == (1, len(BAD) + 3)
    with rejects_path(path).open(encoding="utf-8") as handle:
        found = list(csv.DictReader(handle))
    by_line: dict[int, dict[str, str]] = {}
    for reject in found:
        by_line.setdefault(int(reject["line"]), reject)  # the first problem of each line
    for number, (_change, field) in enumerate(BAD, start=2):
        assert by_line[number]["field"] == field, (number, by_line.get(number))
    tail = len(BAD) + 2
    assert by_line[tail]["reason"] == "unknown holder"
    assert "closed" in by_line[tail + 1]["reason"]
    assert "notified" in by_line[tail + 2]["reason"]
    text = rejects_path(path).read_text(encoding="utf-8")
    assert nir not in text and "30,00" not in text and "Consultation" not in text
    assert count(database) == 1


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "missing-column"])
def test_unreadable_file_exit_1(tmp_path: Path, run_cli: Any, case: str) -> None:
    path = tmp_path / "feed.csv"
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_text("")
    elif case == "missing-column":
        path.write_text("nir,care_date\n")
    status, _out, err = run_cli("import-reimbursements", str(path))
    assert status == 1
    assert "Cannot read the reimbursement feed" in err


def test_professionals_see_nothing(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, client: TestClient
) -> None:
    """ACC-7: a professional — even in the care team — gets 403 on the holder endpoint and
    403 via FHIR; the refusal is audited (ACC-8)."""
    who = people(database)
    with database.transaction() as session:
        from carnet.access.models import CareRelationship

        session.add(
            CareRelationship(holder_id=who.holder_id, professional_id=who.pro_id,
                             status="authorised")
        )  # fmt: skip
    path = write_csv(tmp_path / "feed.csv", [line(who.nir)])
    assert importer.import_feed(database, vault, settings, path).imported == 1
    assert client.get(API, headers=who.pro).status_code == 403
    assert (
        client.get(API, headers={**who.pro, "X-Carnet-Space": str(who.holder_id)}).status_code
        == 403
    )
    for params in (
        {"patient": f"Patient/{who.holder_id}"},
        {"patient.identifier": f"{NIR_SYSTEM}|{who.nir}"},
    ):
        answer = client.get("/fhir/ExplanationOfBenefit", params=params, headers=who.pro)
        outcome(answer, 403)
        assert "20.00" not in answer.text and "Consultation" not in answer.text
    with database.transaction() as session:
        denied = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "reimbursements.read-denied")
        )
    assert denied == 2
    # Another holder naming this space: 404 (nothing tells whether it exists).
    with database.transaction() as session:
        stranger = make_holder(session).id
    answer = client.get(API, headers=headers_for(database, stranger, who.holder_id))
    assert answer.status_code == 404


def test_fhir_explanation_of_benefit_is_valid_r4(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, client: TestClient
) -> None:
    who = people(database)
    path = write_csv(
        tmp_path / "feed.csv",
        [line(who.nir), line(who.nir, professional_rpps="", act_label="", act_code="C")],
    )
    assert importer.import_feed(database, vault, settings, path).imported == 2
    bundle = fhir_json(
        client.get(
            "/fhir/ExplanationOfBenefit",
            params={"patient": f"Patient/{who.holder_id}"},
            headers=bearer(who.holder_token),
        )
    )
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    assert schema_errors(bundle) == []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert resource["resourceType"] == "ExplanationOfBenefit"
        assert schema_errors(resource) == []
        assert resource["patient"]["reference"] == f"Patient/{who.holder_id}"
    eob = next(e["resource"] for e in bundle["entry"] if "careTeam" in e["resource"])
    assert eob["provider"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": RPPS}
    amounts = {t["category"]["coding"][0]["code"]: t["amount"] for t in eob["total"]}
    assert amounts == {
        "submitted": {"value": 30.0, "currency": "EUR"},
        "benefit": {"value": 20.0, "currency": "EUR"},
    }
    by_nir = fhir_json(
        client.get(
            "/fhir/ExplanationOfBenefit",
            params={"patient.identifier": f"{NIR_SYSTEM}|{who.nir}"},
            headers=bearer(who.holder_token),
        )
    )
    assert by_nir["total"] == 2
    bad = client.get(
        "/fhir/ExplanationOfBenefit",
        params={"patient": f"Patient/{who.holder_id}", "code": "G"},
        headers=bearer(who.holder_token),
    )
    outcome(bad, 400)


def test_deleting_the_holder_deletes_the_lines(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, holder: Any
) -> None:
    holder_id, nir = holder
    importer.import_feed(database, vault, settings, write_csv(tmp_path / "f.csv", [line(nir)]))
    assert count(database) == 1
    with database.transaction() as session:
        from carnet.accounts.models import Holder

        session.delete(session.get(Holder, holder_id))
    assert count(database) == 0


@pytest.mark.parametrize(
    "label", ["", 'Acte "spécial" \\ à 100 %', "Ophtalmologie – 眼科 / ☂", "x" * 200]
)
@pytest.mark.parametrize("rpps", [RPPS, ""])
def test_sealed_document_is_what_json_dumps_writes(label: str, rpps: str) -> None:
    """The document assembled by hand is byte for byte the `json.dumps` one the readers parse."""
    checked = importer.validate_line(
        2, line("180017500100104", act_label=label, professional_rpps=rpps, amount_charged="27.5"),
        dt.date(2026, 6, 1),
    )  # fmt: skip
    assert isinstance(checked, importer.FeedLine)
    expected = {
        "act_code": "G",
        "act_label": label,
        "professional_rpps": rpps or None,
        "amount_charged": "27.50",
        "amount_reimbursed": "20.00",
    }
    assert json.loads(checked.sealed_payload()) == expected
    assert checked.sealed_payload() == json.dumps(
        expected, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def test_remembered_checks_give_each_line_its_own_verdict() -> None:
    """A run's validator remembers each field's verdict by value: the same bad value on two lines
    is two rejects with their own line numbers, and a good line after them is still good."""
    validator = importer.Validator(dt.date(2026, 6, 1))
    nir = "180017500100104"
    bad = line(nir, amount_charged="30,00", care_date="2026-02-30")
    first, second = validator.check(2, bad), validator.check(3, bad)
    assert isinstance(first, list) and isinstance(second, list)
    assert [(r.line, r.field) for r in first] == [(2, "care_date"), (2, "amount_charged")]
    assert [(r.line, r.field) for r in second] == [(3, "care_date"), (3, "amount_charged")]
    assert [r.reason for r in first] == [r.reason for r in second]
    good = validator.check(4, line(nir, amount_charged="30.00"))
    assert isinstance(good, importer.FeedLine) and good.amount_charged == Decimal("30.00")
    assert validator.check(5, line(nir, confidential="1")) is importer.SECRET


def test_line_key_is_the_keyed_hash_of_the_line(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, holder: Any
) -> None:
    """`line_key` is `vault.keyed_hash` of the documented fields, amount with 2 decimals: feeds
    imported before this importer are recognised as unchanged."""
    _holder_id, nir = holder
    path = write_csv(tmp_path / "feed.csv", [line(nir, amount_charged="30", professional_rpps="")])
    assert importer.import_feed(database, vault, settings, path).imported == 1
    with database.transaction() as session:
        stored = session.scalars(select(Reimbursement.line_key)).one()
        expected = vault.keyed_hash(session, KEY_NAME, f"{nir}|2026-01-10|G||30.00|2026-01-15")
    assert stored == expected


def test_an_erased_key_is_never_sealed_with_again(
    database: Database, vault: Vault, holder: Any
) -> None:
    """LC-8: the run keeps unwrapped keys between batches, but each batch checks them again; a key
    destroyed meanwhile is dropped and a new one made, and what was sealed under it stays shut."""
    holder_id, _nir = holder
    sealer = BulkSealer(vault)
    record = str(uuid.uuid4())
    with database.transaction() as session:
        sealer.refresh(session, [holder_id])
        before = sealer.seal(holder_id, record, PURPOSE, b"{}")
        assert vault.unseal(session, holder_id, record, PURPOSE, before) == b"{}"
    with database.transaction() as session:
        vault.destroy_keys(session, holder_id)
    with database.transaction() as session:
        sealer.refresh(session, [holder_id])
        after = sealer.seal(holder_id, record, PURPOSE, b"{}")
        assert after[1:17] != before[1:17]  # another data key id
        assert vault.unseal(session, holder_id, record, PURPOSE, after) == b"{}"
        with pytest.raises(VaultError):
            vault.unseal(session, holder_id, record, PURPOSE, before)
    sealer.close()


def test_bulk_sealer_forgets_keys_beyond_its_limit(database: Database, vault: Vault) -> None:
    """Memory stays bounded on feeds naming many holders: beyond `limit` keys, only the current
    batch's are kept; sealing for a holder outside the last refresh is refused."""
    with database.transaction() as session:
        first, second = make_holder(session).id, make_holder(session).id
    sealer = BulkSealer(vault, limit=1)
    for holder_id, other in ((first, second), (second, first)):
        with database.transaction() as session:
            sealer.refresh(session, [holder_id])
            sealed = sealer.seal(holder_id, "r", PURPOSE, b"x")
            assert vault.unseal(session, holder_id, "r", PURPOSE, sealed) == b"x"
            with pytest.raises(KeyError):
                sealer.seal(other, "r", PURPOSE, b"x")
    sealer.close()


def test_keys_the_bulk_sealer_creates_are_the_vaults(database: Database, vault: Vault) -> None:
    """A holder without a data key gets one from the bulk sealer, wrapped as `data_key` wraps it:
    the vault finds it, even in the transaction that had just seen "no key" (unit cache dropped)."""
    with database.transaction() as session:
        holder_id = make_holder(session).id
    sealer = BulkSealer(vault)
    with database.transaction() as session:
        assert vault._load_key(session, holder_id) is None  # remembered for the unit of work
        sealer.refresh(session, [holder_id])
        sealed = sealer.seal(holder_id, "r", PURPOSE, b"x")
        key_id, _key = vault.data_key(session, holder_id)
        assert sealed[1:17] == key_id.bytes
        assert vault.unseal(session, holder_id, "r", PURPOSE, sealed) == b"x"
    with database.transaction() as session:
        assert vault.unseal(session, holder_id, "r", PURPOSE, sealed) == b"x"
    sealer.close()


def test_fhir_search_full_urls_are_reads(
    tmp_path: Path, database: Database, vault: Vault, settings: Settings, client: TestClient
) -> None:
    """Every `fullUrl` the search emits answers 200 to the same caller, with the same resource,
    decided and audited as the search; refused (a professional, ACC-7) or unknown: 404."""
    who = people(database)
    path = write_csv(tmp_path / "feed.csv", [line(who.nir), line(who.nir, act_code="C")])
    assert importer.import_feed(database, vault, settings, path).imported == 2
    bundle = fhir_json(
        client.get(
            "/fhir/ExplanationOfBenefit",
            params={"patient": f"Patient/{who.holder_id}"},
            headers=who.holder,
        )
    )
    assert len(bundle["entry"]) == 2
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith(f"{settings.base_url.rstrip('/')}/fhir/")
        read = fhir_json(client.get(entry["fullUrl"], headers=who.holder))
        assert read == entry["resource"]
        refused = client.get(entry["fullUrl"], headers=who.pro)
        outcome(refused, 404)
        assert "Consultation" not in refused.text
    outcome(client.get(f"/fhir/ExplanationOfBenefit/{uuid.uuid4()}", headers=who.holder), 404)
    outcome(client.get("/fhir/ExplanationOfBenefit/nope", headers=who.holder), 404)
    ids = {entry["resource"]["id"] for entry in bundle["entry"]}
    with database.transaction() as session:
        audited = session.execute(
            select(AuditEntry.action, AuditEntry.target_id).where(
                AuditEntry.target_id.in_(ids)
            )
        ).all()
    assert sorted(a for a, _t in audited) == sorted(
        ["reimbursements.read"] * 2 + ["reimbursements.read-denied"] * 2
    )
