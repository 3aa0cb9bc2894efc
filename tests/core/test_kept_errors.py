"""The one commit rule (issue 13): the edge's unit of work commits; an error marked `errors.kept`
keeps what was written before it (ACC-8: a refusal's audit entry), any other error rolls back."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from carnet.db import Database
from carnet.errors import Forbidden, kept
from carnet.jobs.models import JobRun


def _count(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(JobRun)) or 0


def _write(database: Database, error: Exception, *, read_mostly: bool = False) -> None:
    unit = database.read_mostly if read_mostly else database.transaction
    with pytest.raises(type(error)), unit() as session:
        now = dt.datetime.now(dt.UTC)
        session.add(JobRun(name=f"test.{uuid.uuid4()}", period_key="test", started_at=now))
        session.flush()
        raise error


@pytest.mark.parametrize("read_mostly", [False, True])
def test_a_kept_error_keeps_what_was_written(database: Database, read_mostly: bool) -> None:
    before = _count(database)
    _write(database, kept(Forbidden("refused")), read_mostly=read_mostly)
    assert _count(database) == before + 1


@pytest.mark.parametrize("read_mostly", [False, True])
def test_any_other_error_rolls_back(database: Database, read_mostly: bool) -> None:
    before = _count(database)
    _write(database, Forbidden("refused"), read_mostly=read_mostly)
    assert _count(database) == before
