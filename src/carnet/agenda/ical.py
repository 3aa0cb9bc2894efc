"""The private iCalendar feed (SRV-2): the holder's appointments, and the prevention calendar
when it is on, as an RFC 5545 calendar their own calendar application subscribes to.

Appointments are timed events in their own time zone (UTC in the file, as RFC 5545 allows);
prevention items are all-day events on the day their window opens, saying until when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from icalendar import Calendar, Event

from carnet import __version__
from carnet.agenda.prevention import Item
from carnet.agenda.service import AppointmentView

PRODID = f"-//Carnet//Agenda {__version__}//FR"


def calendar(
    appointments: Sequence[AppointmentView],
    items: Sequence[Item] | None,
    *,
    stamp: dt.datetime,
    domain: str,
    name: str = "Carnet",
) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for appointment in appointments:
        event = Event()
        event.add("uid", f"appointment-{appointment.id}@{domain}")
        event.add("dtstamp", stamp)
        event.add("dtstart", appointment.start)
        event.add("dtend", appointment.end)
        event.add("summary", appointment.title)
        event.add("sequence", appointment.version - 1)
        event.add("last-modified", appointment.updated_at)
        if appointment.location:
            event.add("location", appointment.location)
        text = "\n".join(
            part
            for part in (
                appointment.professional and f"Professionnel : {appointment.professional}",
                appointment.notes,
            )
            if part
        )
        if text:
            event.add("description", text)
        cal.add_component(event)
    for item in items or ():
        event = Event()
        event.add("uid", f"prevention-{item.id}-{item.start.isoformat()}@{domain}")
        event.add("dtstamp", stamp)
        event.add("dtstart", item.start)
        event.add("dtend", item.start + dt.timedelta(days=1))
        event.add("summary", f"Prévention : {item.label_fr}")
        last_day = item.end - dt.timedelta(days=1)
        event.add(
            "description",
            f"À faire du {item.start.strftime('%d/%m/%Y')} au {last_day.strftime('%d/%m/%Y')} "
            f"(calendrier de prévention, sources {', '.join(item.sources)}).",
        )
        event.add("transp", "TRANSPARENT")
        event.add("categories", ["Prévention"])
        cal.add_component(event)
    return bytes(cal.to_ical())
