"""Holders (the spaces' owners), professionals and operators."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id


class Holder(Base):
    """A person and their health space; identified by the INS (rule ID-1).

    The state machine of the space (rules LC-1…LC-8) is driven by the accounts service; personal traits
    are deleted at purge, leaving only a tombstone (rule LC-8).
    """

    __tablename__ = "holders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    nir: Mapped[str] = mapped_column(String(15), unique=True)
    ins_qualified: Mapped[bool] = mapped_column(Boolean, default=True)
    birth_name: Mapped[str] = mapped_column(String(100))
    first_names: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    birth_place_insee: Mapped[str] = mapped_column(String(5), default="")
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="notified", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class Professional(Base):
    """A registered health professional: RPPS number and TRE_G15 profession (rule ID-2)."""

    __tablename__ = "professionals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    rpps: Mapped[str] = mapped_column(String(11), unique=True)
    profession_code: Mapped[str] = mapped_column(String(4))
    specialty: Mapped[str | None] = mapped_column(String(100), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # The emergency-call regulating physician (SAMU, centre 15) reads in regulation mode (ACC-5).
    is_regulator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class Operator(Base):
    """The insurer's staff member running the platform."""

    __tablename__ = "operators"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
