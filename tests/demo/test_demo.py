"""The demo world (`carnet demo`, run by `make run` on an empty database): every service has
something to show, and loading it again changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from carnet.agenda.models import Appointment
from carnet.apps.models import App
from carnet.db import Database
from carnet.demo.services import DEMO_APP
from carnet.documents.models import Document
from carnet.messaging.models import Conversation


def _counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (App, Appointment, Conversation, Document)
        }


def test_the_demo_world_is_complete_and_idempotent(run_cli: Any, database: Database) -> None:
    status, out, _err = run_cli("demo")
    assert status == 0, (out, _err)
    first = _counts(database)
    assert first["App"] == 1 and first["Appointment"] == 1 and first["Conversation"] == 1
    assert first["Document"] > 0
    with database.transaction() as session:
        assert session.scalars(select(App.status).where(App.client_id == DEMO_APP)).one() == "online"
    status, _out, _err = run_cli("demo")
    assert status == 0
    assert _counts(database) == first
