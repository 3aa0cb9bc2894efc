"""The prevention engine (SRV-2): forecasts/s for people of every age with a few recorded doses.

`make bench SECTIONS=agenda`. Pure computation (no database): what the agenda page, the API and
each iCalendar fetch pay on top of reading the vaccinations. CARNET_BENCH_AGENDA_PEOPLE (5,000).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time

from carnet.agenda import prevention

DEFAULT_PEOPLE = 5_000


def agenda() -> None:
    people = int(os.environ.get("CARNET_BENCH_AGENDA_PEOPLE", DEFAULT_PEOPLE))
    rng = random.Random(8)
    today = dt.date(2026, 1, 15)
    names = ["Infanrix Hexa", "Prevenar 13", "ROR", "Gardasil 9", "DTP", "grippe"]
    cases = []
    for _ in range(people):
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(96 * 365))
        doses = [
            prevention.Dose(birth + dt.timedelta(days=rng.randrange(60, 20_000)), rng.choice(names))
            for _ in range(rng.randrange(0, 12))
        ]
        cases.append((birth, rng.choice("FM"), doses))
    prevention.calendar()  # the configuration is read once per process
    started = time.perf_counter()
    items = 0
    for birth, sex, doses in cases:
        items += len(prevention.forecast(birth, sex, doses, today))
    elapsed = time.perf_counter() - started
    print(
        f"agenda: {people} forecasts in {elapsed:.2f} s = {people / elapsed:,.0f} forecasts/s "
        f"({items / people:.0f} items each, {elapsed / people * 1000:.2f} ms per forecast)"
    )
