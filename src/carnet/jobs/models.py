"""Job runs: the record that makes running jobs idempotent and safe with several workers."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, UTCDateTime, new_id

RUNNING = "running"
DONE = "done"
FAILED = "failed"


class JobRun(Base):
    """One run of a job for one period.

    `period_key` is the day (ISO date) for daily jobs: the unique key lets only one worker run a daily
    job for a given day, and a `done` row means the day is covered. Jobs run on every pass share the
    key "always", so their row holds their latest run instead of growing a row every few minutes.
    """

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("name", "period_key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    period_key: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default=RUNNING)
    summary: Mapped[str] = mapped_column(String(500), default="")
