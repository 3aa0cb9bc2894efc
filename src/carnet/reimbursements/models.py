"""The `reimbursements` table: one line of the insurer's feed per row (rules SRV-4, REP-2).

Only the dates are in clear (the health history orders by care date); the act, its label, the
professional and the amounts are one JSON document sealed under the holder's data key, bound to
holder + row id + purpose "reimbursement" (`vault.seal`). `line_key` is a keyed hash of the line's
identifying fields (system key "reimbursements"): the same feed line imported twice finds its row,
and a copy of the database alone cannot test guesses against it. Lines of acts a minor keeps
secret never get a row (REP-2).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carnet import clock
from carnet.db import Base, UTCDateTime, new_id

PURPOSE = "reimbursement"  # the vault purpose of `sealed`
KEY_NAME = "reimbursements"  # the system key of `line_key`


class Reimbursement(Base):
    __tablename__ = "reimbursements"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    line_key: Mapped[str] = mapped_column(String(64), unique=True)
    care_date: Mapped[dt.date] = mapped_column(Date)
    payment_date: Mapped[dt.date] = mapped_column(Date)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
