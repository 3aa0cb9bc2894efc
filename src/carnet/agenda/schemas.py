"""What the agenda API takes and gives (SRV-2). Dates and times are taken as text and checked by
`agenda.rules` so that an impossible date gets a clear 400, not a generic validation error."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field


class AppointmentIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    start: str = Field(
        description="Local date and time (read in `timezone`) or with an offset",
        examples=["2026-03-02T10:00"],
    )
    end: str | None = Field(None, description="Defaults to 30 minutes after the start")
    timezone: str | None = Field(None, description="IANA name; default Europe/Paris")
    location: str = Field("", max_length=300)
    professional: str = Field("", max_length=200)
    notes: str = Field("", max_length=4000)
    reminders: list[int] = Field(
        default_factory=lambda: [1440],
        description="Minutes before the start at which an e-mail reminder goes (default: 1 day)",
    )


class ReminderOut(BaseModel):
    offset_minutes: int
    due_at: dt.datetime
    status: str


class AppointmentOut(BaseModel):
    id: uuid.UUID
    title: str
    start: dt.datetime
    end: dt.datetime
    timezone: str
    location: str
    professional: str
    notes: str
    reminders: list[ReminderOut]
    author_kind: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PreventionItemOut(BaseModel):
    id: str
    kind: str
    series: str | None
    label: str
    start: dt.date
    end: dt.date = Field(description="Exclusive: the window closes the day before")
    catch_up_until: dt.date | None
    status: str = Field(description="done, due, upcoming, overdue or past")
    done_on: dt.date | None
    sources: list[str] = Field(description="Source tags of the reference note")


class AgendaOut(BaseModel):
    space_id: uuid.UUID
    appointments: list[AppointmentOut]
    prevention_enabled: bool
    prevention: list[PreventionItemOut] | None
    calendar_version: str


class AgendaSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prevention: bool


class AgendaSettingsOut(BaseModel):
    prevention: bool
    feed_active: bool
    feed_created_at: dt.datetime | None


class FeedOut(BaseModel):
    url: str = Field(description="Secret: anyone with it reads the agenda. Shown once.")
    created_at: dt.datetime
