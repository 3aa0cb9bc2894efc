"""The pure prevention engine (SRV-2) against ../shared/design/prevention-calendar.md: each rule
checked on a person, then properties that must hold for anyone (hypothesis)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carnet.agenda import prevention
from carnet.agenda.prevention import Age, Dose, forecast
from carnet.errors import ConfigurationError

TODAY = dt.date(2026, 1, 15)


def _by_rule(items: list[prevention.Item], rule: str) -> list[prevention.Item]:
    return [i for i in items if i.rule == rule]


def test_every_rule_cites_tags_of_the_note_and_the_calendar_is_versioned() -> None:
    cal = prevention.calendar()
    assert cal.version == "2025-12-12"
    known = ("V", "E", "D", "B", "C")
    for rule in cal.rules:
        assert rule.sources, rule.id
        tags = rule.sources + rule.catch_up_sources
        assert all(tag[0] in known and tag[1:].isdigit() for tag in tags), rule.id
    for series in cal.series.values():
        assert series.sources


def test_e1_e3_a_child_born_in_2025_gets_the_20_examinations_of_the_2025_calendar() -> None:
    items = forecast(dt.date(2025, 3, 10), "F", [], TODAY)
    exams = [i for i in items if i.kind == "child-exam"]
    assert len(exams) == 20
    rules = {i.rule for i in exams}
    assert "exam-m1" not in rules  # removed from 1 January 2025 [E2], [E3]
    assert "exam-y7" in rules  # added [E3], [E4]
    nine_months = _by_rule(items, "exam-m9")[0]  # "during the 9th month": [8 months, 9 months)
    assert (nine_months.start, nine_months.end) == (dt.date(2025, 11, 10), dt.date(2025, 12, 10))
    assert nine_months.status == "past"
    assert _by_rule(items, "exam-m12")[0].status == "upcoming"


def test_e1_a_child_born_in_2019_kept_the_month_1_exam_of_the_2019_calendar() -> None:
    items = forecast(dt.date(2019, 6, 1), "M", [], TODAY)
    exams = {i.rule for i in items if i.kind == "child-exam"}
    assert len(exams) == 21  # the Carnet decision of prevention.csv: month 1 (2019) and year 7
    assert "exam-m1" in exams and "exam-y7" in exams


def test_e1_no_exam_is_listed_before_the_2019_calendar_came_into_force() -> None:
    """A 2019-calendar exam dated 1988 is not one: earlier lists are not encoded."""
    assert not [i for i in forecast(dt.date(1988, 1, 1), "F", [], TODAY) if i.kind == "child-exam"]
    exams = [i for i in forecast(dt.date(2012, 5, 1), "M", [], TODAY) if i.kind == "child-exam"]
    assert {i.rule for i in exams} == {"exam-y8", "exam-y11", "exam-y15"}  # open after 1 Mar 2019


def test_d1_d3_dental_check_ups_are_yearly_from_april_2025_and_triennial_before() -> None:
    items = forecast(dt.date(2015, 6, 20), "F", [], TODAY)
    dental = [(i.rule, i.start.year - 2015) for i in items if i.kind == "dental"]
    # Triennial at 3, 6 and 9 (windows opened before 1 April 2025) [D3], [D5], [D7]…
    assert [age for rule, age in dental if rule == "dental-triennial"] == [3, 6, 9]
    # …then every year from 10 to 24 [D1], [D2], [D4].
    assert [age for rule, age in dental if rule == "dental-yearly"] == list(range(10, 25))


def test_v7_v2_meningococcal_schedule_follows_the_birth_cohort() -> None:
    born_2022 = {i.rule for i in forecast(dt.date(2022, 2, 1), "M", [], TODAY)}
    assert {"menc-1", "menc-2"} <= born_2022  # MenC at M5 and M12 [V7]
    assert "menb-1" not in born_2022
    assert {"menacwy-catchup-2025", "menb-catchup-2025"} <= born_2022  # [V5], [V6]
    born_2025 = {i.rule for i in forecast(dt.date(2025, 2, 1), "M", [], TODAY)}
    assert {"menb-1", "menb-2", "menb-3", "menacwy-1", "menacwy-2"} <= born_2025  # [V2], [V3]
    assert "menc-1" not in born_2025


def test_recorded_doses_mark_items_done_in_order() -> None:
    birth = dt.date(2025, 3, 10)
    doses = [
        Dose(dt.date(2025, 5, 12), "Infanrix Hexa"),
        Dose(dt.date(2025, 7, 11), "Hexyon"),
        Dose(dt.date(2025, 5, 12), "Vaccin", code="133"),  # PCV13 by its CVX code
    ]
    items = forecast(birth, "F", doses, TODAY)
    assert _by_rule(items, "hexa-1")[0].done_on == dt.date(2025, 5, 12)
    assert _by_rule(items, "hexa-2")[0].status == "done"
    assert _by_rule(items, "pcv-1")[0].status == "done"
    assert _by_rule(items, "pcv-2")[0].status == "past"  # no catch-up age in the note
    assert _by_rule(items, "menb-1")[0].status == "overdue"  # catch-up until 2 y [V3]


def test_v10_v14_adult_boosters_and_senior_vaccines() -> None:
    items = forecast(dt.date(1960, 11, 2), "F", [Dose(dt.date(2025, 10, 20), "Efluelda")], TODAY)
    assert _by_rule(items, "dtp-65y")[0].status == "due"
    flu = _by_rule(items, "flu-senior")
    assert flu[0].status == "done" and flu[1].status == "upcoming"
    assert _by_rule(items, "zoster-1")[0].status == "due"  # Shingrix from 65 [V15]
    assert [i.start.year for i in _by_rule(items, "dtp-senior")] == [2035, 2045, 2055, 2065]


def test_b1_c1_c2_bilan_and_screenings_by_age_and_sex() -> None:
    woman = forecast(dt.date(1975, 9, 1), "F", [], TODAY)
    man = forecast(dt.date(1975, 9, 1), "M", [], TODAY)
    assert _by_rule(woman, "bilan-45")[0].status == "due"  # 45-50 [B1]
    assert _by_rule(woman, "screen-breast") and not _by_rule(man, "screen-breast")  # [C1]
    assert _by_rule(man, "screen-colorectal")[0].start == dt.date(2025, 9, 1)  # 50-74 [C4]
    assert [i.start.year - 1975 for i in _by_rule(woman, "screen-cervix-hpv")] == [
        32,
        37,
        42,
        47,
        52,
        57,
        62,
    ]  # [C2]
    assert "bilan-18" not in {i.rule for i in woman}  # window over before 2024 [B2]


def _shown(age: int, sex: str = "F") -> dict[str, prevention.Item]:
    """What a person of `age` on TODAY (born on 1 January, or 10 days ago at 0) is shown."""
    birth = dt.date(TODAY.year - age, 1, 1) if age else TODAY - dt.timedelta(days=10)
    return {i.id: i for i in prevention.visible(forecast(birth, sex, [], TODAY), TODAY)}


@pytest.mark.parametrize("age", [0, 2, 11, 16, 25, 38, 65, 80])
@pytest.mark.parametrize("sex", ["F", "M"])
def test_visible_shows_now_and_next_never_history(age: int, sex: str) -> None:
    shown = _shown(age, sex)
    assert shown and {i.status for i in shown.values()} <= {"due", "overdue", "upcoming"}
    for item in shown.values():
        assert item.end > TODAY or item.status == "overdue"
        if item.status == "overdue":  # a catch-up the calendar recommends at this age, cited
            rule = next(r for r in prevention.calendar().rules if r.id == item.rule)
            assert rule.catch_up_until is not None and rule.catch_up_sources
            assert set(rule.catch_up_sources) <= set(item.sources)
            assert item.catch_up_until is None or item.catch_up_until > TODAY


def test_visible_at_0_2_and_11_years() -> None:
    baby = _shown(0)
    assert baby["exam-w2"].status == "due" and baby["hexa-1"].status == "upcoming"
    assert not [i for i in baby.values() if i.status == "overdue"]
    toddler = _shown(2)
    assert toddler["hexa-1"].status == "overdue"  # Hib catch-up until 5 y [V1]
    assert toddler["menb-catchup-2025"].status == "due"  # 2-4 y in 2025 [V5] [V6]
    child = _shown(11)
    assert {"dtp-11y", "hpv-1", "menacwy-teen", "exam-y11"} <= {
        k for k, i in child.items() if i.status == "due"
    }


def test_visible_at_16_and_25_years_hpv_catch_up_until_26_revolus() -> None:
    teen = _shown(16)
    assert teen["hpv-1"].status == "overdue" and teen["exam-y15"].status == "due"
    assert teen["dtp-25y"].start == dt.date(2035, 1, 1)  # the next dTP, beyond the horizon
    adult = _shown(25)
    assert adult["hpv-1"].catch_up_until == dt.date(2028, 1, 1)  # [V12] [V20]
    assert {"dtp-25y", "bilan-18", "screen-cervix-cyto-1"} <= set(adult)
    assert "screen-cervix-cyto-1" not in _shown(25, "M")


def test_visible_at_38_years_mmr_catch_up_then_hpv_test_and_dtp_at_45() -> None:
    """Issue 16 item 12: no childhood history, no 2019 exam; what is next, with its date."""
    shown = _shown(38)
    overdue = {k for k, i in shown.items() if i.status == "overdue"}
    assert overdue == {"mmr-1", "mmr-2"}  # 2 doses for anyone born since 1980 [V4] [V21]
    assert shown["screen-cervix-hpv@42y"].start == dt.date(2030, 1, 1)
    assert shown["dtp-45y"].start == dt.date(2033, 1, 1)
    assert not [i for i in shown.values() if i.kind == "child-exam"]
    assert "screen-colorectal@50y" not in shown  # beyond the lookahead
    recorded = [Dose(dt.date(2000, 5, 1), "ROR"), Dose(dt.date(2001, 5, 1), "ROR")]
    again = prevention.visible(forecast(dt.date(1988, 1, 1), "F", recorded, TODAY), TODAY)
    assert not [i for i in again if i.status == "overdue"]


def test_visible_at_65_and_80_years() -> None:
    senior = _shown(65)
    assert {"dtp-65y", "flu-senior@65y", "pcv-senior", "zoster-1"} <= {
        k for k, i in senior.items() if i.status == "due"
    }
    older = _shown(80)
    assert "mmr-1" not in older  # born before 1980 [V21]
    assert {"pcv-senior", "zoster-1", "zoster-2"} <= {
        k for k, i in older.items() if i.status == "overdue"
    }  # PCV20 for everyone over 65 from 2025 [V4] [V14]; shingles from 65 [V15]
    assert older["dtp-senior@85y"].start == dt.date(2031, 1, 1)


@settings(max_examples=60, deadline=None)
@given(st.dates(dt.date(1920, 1, 1), dt.date(2026, 12, 31)), st.sampled_from(["F", "M"]))
def test_property_visible_is_due_overdue_horizon_and_one_next_per_track(
    birth: dt.date, sex: str
) -> None:
    cal = prevention.calendar()
    items = forecast(birth, sex, [], TODAY)
    shown = prevention.visible(items, TODAY)
    ids = {i.id for i in shown}
    for item in items:
        if item.status in ("due", "overdue") or (
            item.status == "upcoming" and item.start <= TODAY + cal.horizon
        ):
            assert item.id in ids
        elif item.id in ids:  # beyond the horizon: the first of its track, within the lookahead
            assert item.start <= TODAY + cal.lookahead
            same = [i for i in shown if prevention.track(i) == prevention.track(item)]
            assert same == [item]


def test_a_configuration_without_sources_is_refused() -> None:
    text = (
        "id,kind,series,sex,born_from,born_until,applies_from,applies_until,applies_by,start,"
        "end,catch_up_until,every,last,label_fr,label_en,sources\n"
        "x,dental,,,,,,,overlap,3y,4y,,,,a,b,\n"
    )
    with pytest.raises(ConfigurationError, match="catch-up cites"):
        prevention.parse_rules(text.replace("3y,4y,,", "3y,4y,5y,").replace("a,b,", "a,b,D1"))
    with pytest.raises(ConfigurationError, match="source"):
        prevention.parse_rules(text)
    with pytest.raises(ConfigurationError, match="ends before"):
        prevention.parse_rules(text.replace("3y,4y", "4y,3y").replace("a,b,", "a,b,D1"))


# -- properties ---------------------------------------------------------------------------------

births = st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2026, 12, 31))
days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31))
sexes = st.sampled_from(["F", "M"])
names = st.sampled_from(["Infanrix Hexa", "ROR", "Gardasil 9", "Prevenar 20", "grippe", "DTP", "x"])
doses = st.lists(
    st.builds(Dose, st.dates(dt.date(1990, 1, 1), dt.date(2040, 1, 1)), names), max_size=8
)


@settings(max_examples=60, deadline=None)
@given(births, sexes, doses, days)
def test_property_windows_are_well_formed_sorted_and_sex_specific(
    birth: dt.date, sex: str, given_doses: list[Dose], today: dt.date
) -> None:
    items = forecast(birth, sex, given_doses, today)
    assert [i.start for i in items] == sorted(i.start for i in items)
    assert len({i.id for i in items}) == len(items)
    cal = prevention.calendar()
    rules = {r.id: r for r in cal.rules}
    for item in items:
        assert birth <= item.start < item.end
        rule = rules[item.rule]
        assert rule.sex in (None, sex)
        if item.status == "done":
            assert item.done_on is not None and item.done_on >= item.start - cal.early_tolerance
        else:
            assert item.done_on is None
            assert item.status == ("upcoming" if today < item.start else item.status)


@settings(max_examples=60, deadline=None)
@given(births, sexes, days)
def test_property_twenty_child_exams_one_more_across_the_2025_switch(
    birth: dt.date, sex: str, today: dt.date
) -> None:
    """[E1]-[E4]: 20 exams; the Carnet decision (calendar in force while the window is open) gives
    one more to children whose month-1 exam window opened in 2024 or before and whose 7th-year
    window was still open on 1 January 2025. None whose window closed before 1 March 2019."""
    exams = [i for i in forecast(birth, sex, [], today) if i.kind == "child-exam"]
    assert all(i.end > dt.date(2019, 3, 1) for i in exams)
    if Age(days=9).on(birth) <= dt.date(2019, 3, 1):
        return
    month1_before_2025 = Age(days=14).on(birth) <= dt.date(2024, 12, 31)
    year7_open_in_2025 = Age(years=7).on(birth) > dt.date(2025, 1, 1)
    assert len(exams) == (21 if month1_before_2025 and year7_open_in_2025 else 20)


@settings(max_examples=60, deadline=None)
@given(births, sexes, doses, days, names, st.dates(dt.date(1990, 1, 1), dt.date(2040, 1, 1)))
def test_property_recording_one_more_dose_never_undoes_anything(
    birth: dt.date, sex: str, given_doses: list[Dose], today: dt.date, name: str, day: dt.date
) -> None:
    before = {i.id for i in forecast(birth, sex, given_doses, today) if i.status == "done"}
    after = forecast(birth, sex, [*given_doses, Dose(day, name)], today)
    done_after = {i.id for i in after if i.status == "done"}
    assert len(done_after) >= len(before)
    assert len(done_after) <= len(before) + 1


@settings(max_examples=40, deadline=None)
@given(births, sexes, days)
def test_property_dental_windows_never_overlap_and_stay_within_3_to_24(
    birth: dt.date, sex: str, today: dt.date
) -> None:
    dental = [i for i in forecast(birth, sex, [], today) if i.kind == "dental"]
    for a, b in itertools.pairwise(dental):
        assert a.end <= b.start
    for item in dental:
        assert Age(years=3).on(birth) <= item.start and item.end <= Age(years=25).on(birth)


def test_age_arithmetic_clamps_29_february() -> None:
    assert Age(years=1).on(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)
    assert Age(months=1).on(dt.date(2025, 1, 31)) == dt.date(2025, 2, 28)
    assert dataclasses.replace(Age(), days=8).on(dt.date(2025, 1, 1)) == dt.date(2025, 1, 9)
