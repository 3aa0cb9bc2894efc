"""The agenda: appointments, reminders, the prevention calendar and the iCalendar feed (SRV-2)."""
