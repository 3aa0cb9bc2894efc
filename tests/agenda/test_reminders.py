"""Reminder e-mails through the jobs run (SRV-2): at the chosen time, once, neutral (no title,
place, professional or notes), to a minor's representatives (REP-1); `--as-of` drives them."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet import clock
from carnet.agenda.models import Reminder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from tests.agenda.support import API, MARKER, PARIS, body
from tests.documents.samples import family
from tests.profile.support import bearer

URL = f"{API}/me/agenda/appointments"


def _mails(settings: Settings) -> list[EmailMessage]:
    found = []
    for path in sorted(settings.outbox_dir.glob("*.eml")):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(mail, EmailMessage)
        found.append(mail)
    return found


def _reminders(settings: Settings) -> list[EmailMessage]:
    return [m for m in _mails(settings) if "Rappel" in str(m["Subject"])]


def _day(days: int) -> str:
    return (clock.now().astimezone(PARIS).date() + dt.timedelta(days=days)).isoformat()


def test_srv2_the_reminder_leaves_on_the_day_chosen_once_and_says_nothing_of_the_care(
    client: TestClient, database: Database, settings: Settings, run_cli
) -> None:  # type: ignore[no-untyped-def]
    people = family(database)
    me = bearer(database, Principal(PrincipalKind.HOLDER, people.parent.id))
    created = client.post(URL, json=body(3, reminders=[1440]), headers=me)
    assert created.status_code == 201, created.text

    status, out, err = run_cli("jobs", "run", "--as-of", _day(1))
    assert status == 0, err
    assert "agenda.reminders" in out
    assert _reminders(settings) == []  # due the day before the appointment, not yet

    status, _out, err = run_cli("jobs", "run", "--as-of", _day(2))
    assert status == 0, err
    [mail] = _reminders(settings)
    assert mail["To"] == "parent@example.org"
    content = mail.get_content()
    assert "demain à 10:00" in content  # the appointment is at 10:00 Paris time
    assert f"{settings.base_url}/agenda" in content
    for secret in (MARKER, "Cardiologue", "Hôpital", "Cœur", "ECG"):
        assert secret not in content and secret not in str(mail["Subject"])

    status, _out, _err = run_cli("jobs", "run", "--as-of", _day(2))
    assert status == 0
    assert len(_reminders(settings)) == 1  # idempotent
    with database.transaction() as session:
        assert session.scalars(select(Reminder.status)).all() == ["sent"]


def test_srv2_a_reminder_whose_appointment_has_passed_is_skipped_never_sent_late(
    client: TestClient, database: Database, settings: Settings, run_cli
) -> None:  # type: ignore[no-untyped-def]
    """`--as-of` runs at noon: the 09:00 reminder of a 10:00 appointment comes too late."""
    people = family(database)
    parent = bearer(database, Principal(PrincipalKind.HOLDER, people.parent.id), people.child.id)
    created = client.post(URL, json=body(2, reminders=[60]), headers=parent)
    assert created.status_code == 201, created.text
    assert created.json()["author_kind"] == "representative"
    status, _out, err = run_cli("jobs", "run", "--as-of", _day(2))
    assert status == 0, err
    assert _reminders(settings) == []
    with database.transaction() as session:
        assert session.scalars(select(Reminder.status)).all() == ["skipped"]


def test_srv2_a_reminder_of_a_minor_reaches_the_parent_not_the_child(
    client: TestClient, database: Database, settings: Settings, run_cli
) -> None:  # type: ignore[no-untyped-def]
    people = family(database)
    parent = bearer(database, Principal(PrincipalKind.HOLDER, people.parent.id), people.child.id)
    client.post(URL, json=body(3, reminders=[2880]), headers=parent)
    status, _out, err = run_cli("jobs", "run", "--as-of", _day(1))
    assert status == 0, err
    [mail] = _reminders(settings)
    assert mail["To"] == "parent@example.org"
    assert "Un rendez-vous est prévu dans un espace santé Carnet que vous suivez" in (
        mail.get_content()
    )
