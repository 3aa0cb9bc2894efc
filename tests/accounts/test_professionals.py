"""Registering professionals (rule ID-2) and operators from the command line."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from carnet.accounts.models import Operator, Professional
from carnet.accounts.rules import make_rpps
from carnet.audit.models import AuditEntry


def test_id2_add_checks_rpps_and_profession(run_cli, database) -> None:  # type: ignore[no-untyped-def]
    rpps = make_rpps(123456789)
    status, out, err = run_cli("professional", "add", "--rpps", rpps, "--profession", "60",
                               "--name", "Julie Infirmière", "--email", "julie@example.org")
    assert status == 0, err
    assert "Registered" in out
    bad = rpps[:10] + str((int(rpps[10]) + 1) % 10)
    status, _out, err = run_cli("professional", "add", "--rpps", bad, "--profession", "60",
                                "--name", "X")
    assert status == 1 and "Luhn" in err
    status, _out, err = run_cli("professional", "add", "--rpps", make_rpps(5), "--profession", "99",
                                "--name", "X")
    assert status == 1 and "unknown profession code" in err
    status, out, _ = run_cli("professional", "add", "--rpps", rpps, "--profession", "60",
                             "--name", "Julie Moreau")
    assert "Updated" in out
    with database.transaction() as session:
        pros = session.scalars(select(Professional)).all()
        assert [(p.rpps, p.name) for p in pros] == [(rpps, "Julie Moreau")]
        actions = session.scalars(select(AuditEntry.action)).all()
        assert actions.count("professional.register") == 1
        assert actions.count("professional.update") == 1


def test_id2_bulk_import_reports_bad_rows(run_cli, database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good1, good2 = make_rpps(1), make_rpps(2)
    csv = tmp_path / "pros.csv"
    csv.write_text(
        "\ufeffrpps,profession,name,email,specialty,regulator\n"
        f"{good1},10,Dr A,a@example.org,Médecine générale,\n"
        "12345678901,10,Dr Bad,,,\n"
        f"{good2},21,Pharmacie B,not-an-email,,\n"
        f"{make_rpps(3)},10,Dr Régulateur,,Urgences,1\n",
        encoding="utf-8",
    )
    status, out, err = run_cli("professional", "import", str(csv))
    assert status == 0
    assert "2 created, 0 updated, 2 rejected" in out
    assert "line 3" in err and "Luhn" in err
    assert "line 4" in err and "e-mail" in err
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Professional)) == 2
        regulator = session.scalars(select(Professional).where(Professional.rpps == make_rpps(3))).one()
        assert regulator.is_regulator


def test_import_of_an_unreadable_file_is_a_clear_error(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    status, _out, err = run_cli("professional", "import", str(tmp_path / "missing.csv"))
    assert status == 1 and "Cannot read" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes("rpps,profession,name\n10000000018,10,Dr Hélène\n".encode("latin-1"))
    status, _out, err = run_cli("professional", "import", str(latin))
    assert status == 1 and "not UTF-8" in err
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("rpps,name\n", encoding="utf-8")
    status, _out, err = run_cli("professional", "import", str(nocol))
    assert status == 1 and "profession" in err


def test_operator_names_are_unique(run_cli, database) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("operator", "add", "alice")[0] == 0
    status, _out, err = run_cli("operator", "add", "alice")
    assert status == 1 and "already exists" in err
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Operator)) == 1


def test_demo_is_idempotent_and_prints_how_to_sign_in(run_cli, database) -> None:  # type: ignore[no-untyped-def]
    from carnet.accounts.models import Holder
    from carnet.accounts.rules import is_valid_nir, rpps_problem

    status, out, err = run_cli("demo")
    assert status == 0, err
    assert "carnet token --holder" in out and "carnet token --regulator" in out
    with database.transaction() as session:
        holders = session.scalars(select(Holder)).all()
        pros = session.scalars(select(Professional)).all()
        assert len(holders) == 5 and all(is_valid_nir(h.nir) for h in holders)
        assert len(pros) == 10 and all(rpps_problem(p.rpps) is None for p in pros)
        assert {p.profession_code for p in pros} >= {"10", "21", "40", "50", "60", "70"}
        assert sum(p.is_regulator for p in pros) == 1
    from carnet.documents.models import Document

    with database.transaction() as session:
        docs = session.scalars(select(Document)).all()
        assert len(docs) == 11 and all(d.mime_type == "application/pdf" for d in docs)
        assert sum(d.invisible_to_representatives for d in docs) == 1  # the teenager's secret
    assert run_cli("demo")[0] == 0
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 11
    status, out, _ = run_cli("demo", "--if-empty")
    assert status == 0 and "left as it is" in out
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Holder)) == 5
        assert session.scalar(select(func.count()).select_from(Professional)) == 10


def test_demo_refuses_a_wrong_master_key(run_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("demo")[0] == 0
    import base64
    import os

    monkeypatch.setenv("CARNET_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    status, out, err = run_cli("demo")
    assert status == 2
    assert "master key does not match" in err
    assert "Traceback" not in out + err
