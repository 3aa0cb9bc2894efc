"""The forecast prevention calendar (rule SRV-2): pure functions of a birth date, a sex, the
recorded vaccinations and a day; no I/O but reading the shipped configuration.

Every age, window and interval comes from `data/prevention.csv` (versioned; each row cites its
source tags from `../shared/design/prevention-calendar.md`), and which recorded vaccine counts
for which series from `data/vaccines.csv`. Nothing here knows a number of months or years.

Reading of the windows (the note's conventions): a window is [start, end) in age; "during the
N-th month" is [N-1 months, N months); "11-13 y" is [11th birthday, 14th birthday). A dose marks
an item done when, taking a series' items in order, it is the earliest unused dose given no
earlier than the item's window less the configured tolerance (a late schedule is never restarted:
note 1.5). Rows apply to a person by birth cohort and by the dates the rule is in force (until
the end of its catch-up, if it has one). A closed window is "overdue" only while the calendar
recommends a catch-up (`catch_up_until`, cited by `catch_up_sources`); otherwise it is "past":
history, which `visible` (what is relevant now and next) never shows.
"""

from __future__ import annotations

import calendar as calendar_module
import csv
import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from carnet.errors import ConfigurationError

KINDS = ("vaccination", "child-exam", "dental", "bilan", "screening")
Status = Literal["done", "due", "upcoming", "overdue", "past"]
STATUSES: tuple[Status, ...] = ("done", "due", "upcoming", "overdue", "past")
LIFE = "life"
_AGE = re.compile(r"^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?$")


@dataclass(frozen=True, order=True)
class Age:
    """An age as the sources state it: years, months, weeks, days after the birth date."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    def plus(self, other: Age) -> Age:
        return Age(
            self.years + other.years,
            self.months + other.months,
            self.weeks + other.weeks,
            self.days + other.days,
        )

    def times(self, k: int) -> Age:
        return Age(self.years * k, self.months * k, self.weeks * k, self.days * k)

    def on(self, birth: dt.date) -> dt.date:
        """The day this age is reached (a 29 February birthday falls on 28 February)."""
        total = birth.month - 1 + self.months + 12 * self.years
        year, month = birth.year + total // 12, total % 12 + 1
        day = min(birth.day, _days_in_month(year, month))
        return dt.date(year, month, day) + dt.timedelta(weeks=self.weeks, days=self.days)


def _days_in_month(year: int, month: int) -> int:
    return calendar_module.monthrange(year, month)[1]


def parse_age(text: str) -> Age:
    match = _AGE.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"not an age: {text!r} (write e.g. 8d, 2w, 4m, 11y, 65y2m)")
    y, m, w, d = (int(part) if part else 0 for part in match.groups())
    return Age(y, m, w, d)


@dataclass(frozen=True)
class Rule:
    """One row of prevention.csv."""

    id: str
    kind: str
    series: str | None
    sex: str | None
    born_from: dt.date | None
    born_until: dt.date | None
    applies_from: dt.date | None
    applies_until: dt.date | None
    applies_by: Literal["overlap", "start"]
    start: Age
    end: Age
    catch_up_until: Age | Literal["life"] | None
    catch_up_sources: tuple[str, ...]  # where the calendar recommends the catch-up (note 1.5)
    every: Age | None
    last: Age | None
    label_fr: str
    label_en: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Series:
    """One row of vaccines.csv: the names and codes of recorded vaccines counted for a series."""

    name: str
    aliases: tuple[str, ...]
    codes: frozenset[str]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Calendar:
    version: str
    early_tolerance: dt.timedelta  # how early a dose may be given and still count
    horizon: dt.timedelta  # how far ahead the agenda shows everything coming
    lookahead: dt.timedelta  # how far ahead it still shows the next item of each series or kind
    rules: tuple[Rule, ...]
    series: dict[str, Series] = field(default_factory=dict)


@dataclass(frozen=True)
class Dose:
    """A recorded vaccination, as the engine needs it (from the profile's vaccination section)."""

    date: dt.date
    vaccine: str
    code: str | None = None


@dataclass(frozen=True)
class Item:
    """One forecast prevention appointment for one person."""

    id: str  # rule id, with "@<age>" for repeated rules
    rule: str
    kind: str
    series: str | None
    label_fr: str
    label_en: str
    start: dt.date
    end: dt.date  # exclusive
    catch_up_until: dt.date | None  # exclusive; None: the window's end
    status: Status
    done_on: dt.date | None
    sources: tuple[str, ...]

    def label(self, locale: str) -> str:
        return self.label_fr if locale.startswith("fr") else self.label_en


# -- configuration -----------------------------------------------------------------------------


def _date(value: str, where: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value.strip() else None
    except ValueError:
        raise ConfigurationError(f"{where}: {value!r} is not a YYYY-MM-DD date.") from None


def _rows(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Metadata (`# key: value` lines) and the CSV rows below the comments."""
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            key, colon, value = line[1:].partition(":")
            if colon and re.fullmatch(r"[a-z_]+", key.strip()):
                meta[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    return meta, list(csv.DictReader(body))


def _catch_up(text: str) -> Age | Literal["life"] | None:
    if text == LIFE:
        return "life"
    return parse_age(text) if text else None


def parse_rules(text: str, origin: str = "prevention.csv") -> tuple[dict[str, str], list[Rule]]:
    meta, rows = _rows(text)
    rules: list[Rule] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        where = f"{origin} row {number} ({row.get('id', '?')})"
        try:
            kind = row["kind"].strip()
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            catch_up = row["catch_up_until"].strip()
            applies_by = row["applies_by"].strip() or "overlap"
            if applies_by not in ("overlap", "start"):
                raise ValueError(f"applies_by is overlap or start, not {applies_by!r}")
            rule = Rule(
                id=row["id"].strip(),
                kind=kind,
                series=row["series"].strip() or None,
                sex=row["sex"].strip() or None,
                born_from=_date(row["born_from"], where),
                born_until=_date(row["born_until"], where),
                applies_from=_date(row["applies_from"], where),
                applies_until=_date(row["applies_until"], where),
                applies_by="start" if applies_by == "start" else "overlap",
                start=parse_age(row["start"]),
                end=parse_age(row["end"]),
                catch_up_until=_catch_up(catch_up),
                catch_up_sources=tuple(row.get("catch_up_sources", "").split()),
                every=parse_age(row["every"]) if row["every"].strip() else None,
                last=parse_age(row["last"]) if row["last"].strip() else None,
                label_fr=row["label_fr"].strip(),
                label_en=row["label_en"].strip(),
                sources=tuple(row["sources"].split()),
            )
        except (KeyError, ValueError, AttributeError) as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        if not rule.sources:
            raise ConfigurationError(f"{where}: every rule cites its source tags.")
        if rule.catch_up_until is not None and not rule.catch_up_sources:
            raise ConfigurationError(f"{where}: a catch-up cites where the calendar recommends it.")
        if rule.kind == "vaccination" and not rule.series:
            raise ConfigurationError(f"{where}: a vaccination names its series.")
        if rule.id in seen:
            raise ConfigurationError(f"{where}: duplicate id.")
        if not rule.start.on(dt.date(2000, 1, 1)) < rule.end.on(dt.date(2000, 1, 1)):
            raise ConfigurationError(f"{where}: the window ends before it starts.")
        if (rule.every is None) != (rule.last is None):
            raise ConfigurationError(f"{where}: every and last go together.")
        seen.add(rule.id)
        rules.append(rule)
    return meta, rules


def parse_series(text: str, origin: str = "vaccines.csv") -> dict[str, Series]:
    _meta, rows = _rows(text)
    found: dict[str, Series] = {}
    for row in rows:
        name = row["series"].strip()
        found[name] = Series(
            name,
            tuple(normalise(a) for a in row["aliases"].split("|") if a.strip()),
            frozenset(c.strip() for c in row["codes"].split("|") if c.strip()),
            tuple(row["sources"].split()),
        )
    return found


@functools.cache
def calendar() -> Calendar:
    """The shipped calendar (read once)."""
    data = resources.files("carnet.agenda").joinpath("data")
    meta, rules = parse_rules(data.joinpath("prevention.csv").read_text("utf-8"))
    series = parse_series(data.joinpath("vaccines.csv").read_text("utf-8"))
    missing = sorted({r.series for r in rules if r.series and r.series not in series})
    if missing:
        raise ConfigurationError(f"prevention.csv: series without vaccines: {', '.join(missing)}.")
    try:
        tolerance = dt.timedelta(days=int(meta.get("early_tolerance_days", "0")))
        horizon = dt.timedelta(days=int(meta.get("horizon_days", "730")))
        lookahead = dt.timedelta(
            days=int(meta.get("lookahead_days", meta.get("horizon_days", "730")))
        )
    except ValueError:
        raise ConfigurationError("prevention.csv: day counts are whole numbers.") from None
    version = meta.get("version", "unversioned")
    return Calendar(version, tolerance, horizon, lookahead, tuple(rules), series)


# -- matching recorded doses ------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by one space."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain.lower()).split())


def series_of(dose: Dose, cal: Calendar) -> set[str]:
    """The series a recorded vaccine counts for: by code, or by a name found as whole words."""
    words = f" {normalise(dose.vaccine)} "
    code = (dose.code or "").strip()
    return {
        s.name
        for s in cal.series.values()
        if (code and code in s.codes) or any(f" {alias} " in words for alias in s.aliases)
    }


# -- the forecast ------------------------------------------------------------------------------


@functools.cache
def _occurrences(rule: Rule) -> tuple[tuple[str, Age, Age], ...]:
    """(item id, start, end) of a rule; repeated rules give one per step up to `last`."""
    if rule.every is None or rule.last is None:
        return ((rule.id, rule.start, rule.end),)
    out: list[tuple[str, Age, Age]] = []
    step = 0
    probe = dt.date(2000, 1, 1)
    while True:
        start = rule.start.plus(rule.every.times(step))
        if start.on(probe) > rule.last.on(probe):
            return tuple(out)
        label = f"{start.years}y" + (f"{start.months}m" if start.months else "")
        out.append((f"{rule.id}@{label}", start, rule.end.plus(rule.every.times(step))))
        step += 1


def _applies(rule: Rule, birth: dt.date, sex: str, start: dt.date, end: dt.date) -> bool:
    if rule.sex and rule.sex != sex:
        return False
    if rule.born_from and birth < rule.born_from:
        return False
    if rule.born_until and birth > rule.born_until:
        return False
    if rule.applies_by == "start":
        return (rule.applies_from is None or start >= rule.applies_from) and (
            rule.applies_until is None or start <= rule.applies_until
        )
    return (rule.applies_from is None or end > rule.applies_from) and (
        rule.applies_until is None or start <= rule.applies_until
    )


def _status(start: dt.date, end: dt.date, catch_up: dt.date | None, today: dt.date) -> Status:
    if today < start:
        return "upcoming"
    if today < end:
        return "due"
    if catch_up is not None and today < catch_up:
        return "overdue"
    return "past"


def forecast(
    birth: dt.date,
    sex: str,
    doses: Iterable[Dose],
    today: dt.date,
    cal: Calendar | None = None,
) -> list[Item]:
    """Every prevention item of a person, ordered by window start (SRV-2)."""
    cal = cal or calendar()
    windows: list[tuple[Rule, str, dt.date, dt.date, dt.date | None]] = []
    for rule in cal.rules:
        for item_id, start_age, end_age in _occurrences(rule):
            start, end = start_age.on(birth), end_age.on(birth)
            catch_up: dt.date | None
            if rule.catch_up_until == LIFE:
                catch_up = dt.date.max
            elif isinstance(rule.catch_up_until, Age):
                catch_up = max(rule.catch_up_until.on(birth), end)
            else:
                catch_up = None
            # A rule still in force while its catch-up is open applies (PCV20 for all over 65).
            if not _applies(rule, birth, sex, start, catch_up or end):
                continue
            windows.append((rule, item_id, start, end, catch_up))
    windows.sort(key=lambda w: (w[2], w[3], w[1]))
    done = _match(windows, list(doses), cal)
    items = []
    for rule, item_id, start, end, catch_up in windows:
        done_on = done.get(item_id)
        status = "done" if done_on else _status(start, end, catch_up, today)
        items.append(
            Item(
                id=item_id,
                rule=rule.id,
                kind=rule.kind,
                series=rule.series,
                label_fr=rule.label_fr,
                label_en=rule.label_en,
                start=start,
                end=end,
                catch_up_until=None if catch_up == dt.date.max else catch_up,
                status=status,
                done_on=done_on,
                sources=_sources(rule, status),
            )
        )
    return items


def _match(
    windows: Sequence[tuple[Rule, str, dt.date, dt.date, dt.date | None]],
    doses: Sequence[Dose],
    cal: Calendar,
) -> dict[str, dt.date]:
    """Item id → the date of the recorded dose that marks it done (see the module's doc)."""
    by_series: dict[str, list[dt.date]] = {}
    for dose in doses:
        for name in series_of(dose, cal):
            by_series.setdefault(name, []).append(dose.date)
    for dates in by_series.values():
        dates.sort()
    done: dict[str, dt.date] = {}
    for rule, item_id, start, _end, _catch_up in windows:
        available = by_series.get(rule.series or "")
        if not available:
            continue
        earliest = start - cal.early_tolerance
        for index, day in enumerate(available):
            if day >= earliest:
                done[item_id] = day
                del available[index]
                break
    return done


def _sources(rule: Rule, status: Status) -> tuple[str, ...]:
    """A late item is shown because of its catch-up recommendation: it cites that too."""
    if status != "overdue":
        return rule.sources
    return rule.sources + tuple(t for t in rule.catch_up_sources if t not in rule.sources)


def track(item: Item) -> str:
    """What "the next one" is counted in: a vaccine series, else a kind (exam, screening...)."""
    return item.series or item.kind


def visible(items: Iterable[Item], today: dt.date, cal: Calendar | None = None) -> list[Item]:
    """What is relevant now and next (the calendar's header): what is due; a catch-up only while
    the calendar recommends one (status "overdue"); everything opening within the horizon; beyond
    it, the first item of each track not shown yet, if it opens within the lookahead. Done items
    and windows closed without a catch-up are history, not shown."""
    cal = cal or calendar()
    ordered = sorted(items, key=lambda i: (i.start, i.end, i.id))
    shown = [
        i
        for i in ordered
        if i.status in ("due", "overdue")
        or (i.status == "upcoming" and i.start <= today + cal.horizon)
    ]
    tracks = {track(i) for i in shown}
    for item in ordered:
        if item.status != "upcoming" or track(item) in tracks:
            continue
        tracks.add(track(item))
        if item.start <= today + cal.lookahead:
            shown.append(item)
    return sorted(shown, key=lambda i: (i.start, i.end, i.id))
