"""The operator's catalogue (`carnet app …`, SRV-3), the 90-day reminder job and erasure (LC-8)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from carnet import clock
from carnet.accounts import purge as purge_service
from carnet.accounts.models import Holder
from carnet.apps.models import AppConsent, AppToken
from carnet.config import Settings
from carnet.db import Database
from carnet.jobs.service import run_due
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.apps.support import add_app, app_token
from tests.factories import make_holder

SCOPES = ["--scope", "openid offline_access", "--scope", "patient/DocumentReference.rs"]


def test_operator_lists_updates_suspends_and_delists(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli(
        "app", "add", "mon-suivi", "--name", "Mon Suivi", "--publisher", "Santé Demo",
        "--version", "1.0", "--redirect-uri", "https://app.example.org/cb", *SCOPES,
        "--confidential",
    )  # fmt: skip
    assert status == 0, err
    assert "Client secret (shown once" in out and "cns_" in out
    status, _out, err = run_cli(
        "app", "add", "mauvais", "--name", "X", "--publisher", "Y", "--version", "1",
        "--redirect-uri", "https://x.example/cb", "--scope", "user/Observation.rs",
    )  # fmt: skip
    assert status == 1 and "Unsupported scope 'user/Observation.rs'" in err
    status, _out, err = run_cli("app", "update", "mon-suivi", "--scope", "patient/Observation.rs")
    assert status == 1 and "new version" in err  # ACC-9: scopes change with a version
    status, out, err = run_cli(
        "app", "update", "mon-suivi", "--version", "2.0", "--scope", "patient/Observation.rs"
    )
    assert status == 0 and "version 2.0" in out, err
    assert run_cli("app", "suspend", "mon-suivi")[0] == 0
    status, out, _err = run_cli("app", "list")
    assert out.split()[:4] == ["mon-suivi", "suspended", "2.0", "Mon"]
    assert run_cli("app", "delist", "mon-suivi")[0] == 0
    assert "delisted" in run_cli("app", "list", "--status", "delisted")[1]
    assert run_cli("app", "suspend", "nobody")[0] == 1


def test_holders_are_reminded_every_90_days(database: Database, settings: Settings) -> None:
    with database.transaction() as session:
        holder = make_holder(session, email="marie@example.org")
    add_app(database)
    app_token(database, holder.id, ["patient/DocumentReference.rs"])
    with database.transaction() as session:
        session.execute(update(AppConsent).values(created_at=clock.now() - dt.timedelta(days=91)))

    def reminders() -> list[str]:
        with database.transaction() as session:
            return list(
                session.scalars(
                    select(OutboxMessage.body_text).where(OutboxMessage.kind == "apps.reminder")
                )
            )

    today = clock.today(settings.timezone)
    run_due(database, settings, as_of=today)
    assert len(reminders()) == 1
    mails = [p.read_text("utf-8") for p in (settings.data_dir / "outbox").glob("*.eml")]
    assert any("Mon Suivi" in mail and "90" in mail for mail in mails)
    run_due(database, settings, as_of=today + dt.timedelta(days=30))
    assert len(reminders()) == 1  # the next one is 90 days after this reminder
    run_due(database, settings, as_of=today + dt.timedelta(days=91))
    assert len(reminders()) == 2


def test_purge_removes_consents_and_tokens(
    database: Database, vault: Vault, settings: Settings
) -> None:
    with database.transaction() as session:
        holder = make_holder(session)
    add_app(database)
    app_token(database, holder.id, ["patient/DocumentReference.rs"])
    with database.transaction() as session:
        row = session.get(Holder, holder.id)
        assert row is not None
        row.state = "closed"
        purge_service.purge(session, vault, settings, row)
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AppConsent)) == 0
        assert session.scalar(select(func.count()).select_from(AppToken)) == 0
