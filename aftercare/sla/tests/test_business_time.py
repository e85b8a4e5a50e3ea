"""Calendar arithmetic, pure: exact instants, breaks, midnight, year ends, DST, properties."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare.sla.business_time import BusinessClock, CalendarError, CalendarSpec

SH = ZoneInfo("Asia/Shanghai")
T = dt.time


def at(*args, zone=SH) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


WITH_LUNCH = CalendarSpec(
    "Asia/Shanghai",
    weekly={d: [(T(9), T(12)), (T(13, 30), T(18))] for d in range(5)},
    off_days=frozenset({dt.date(2026, 10, 1), dt.date(2026, 10, 2)}),
    extra_workdays=frozenset({dt.date(2026, 10, 10)}),
)
clock = BusinessClock(WITH_LUNCH)


def test_adding_inside_a_morning():
    assert clock.add_minutes(at(2026, 11, 26, 9, 0), 90) == at(2026, 11, 26, 10, 30)


def test_lunch_break_is_skipped():
    assert clock.add_minutes(at(2026, 11, 26, 11, 30), 60) == at(2026, 11, 26, 14, 0)


def test_start_outside_hours_begins_at_next_opening():
    assert clock.add_minutes(at(2026, 11, 26, 22, 15), 30) == at(2026, 11, 27, 9, 30)
    assert clock.add_minutes(at(2026, 11, 28, 10, 0), 30) == at(2026, 11, 30, 9, 30)  # Saturday


def test_result_at_closing_time_stays_on_that_day():
    assert clock.add_minutes(at(2026, 11, 26, 17, 0), 60) == at(2026, 11, 26, 18, 0)


def test_holidays_and_make_up_day():
    # Wed 30 Sep 17:00 + 2 h: 1 h on 30 Sep, 1 Oct and 2 Oct off, Sat 3 Oct off, Mon 5 Oct.
    assert clock.add_minutes(at(2026, 9, 30, 17, 0), 120) == at(2026, 10, 5, 10, 0)
    # Sat 10 Oct is a make-up workday with Monday's hours.
    assert clock.add_minutes(at(2026, 10, 9, 17, 0), 120) == at(2026, 10, 10, 10, 0)


def test_year_end():
    # 1 h on 31 Dec, then 3 h in the morning and 4 h after lunch on Friday 1 Jan.
    assert clock.add_minutes(at(2026, 12, 31, 17, 0), 8 * 60) == at(2027, 1, 1, 17, 30)


def test_elapsed_counts_only_working_time():
    assert (
        clock.elapsed_minutes(at(2026, 11, 26, 8, 0), at(2026, 11, 27, 10, 0)) == 7 * 60 + 30 + 60
    )
    assert clock.elapsed_minutes(at(2026, 11, 28, 0, 0), at(2026, 11, 29, 23, 59)) == 0


def test_exact_to_the_second():
    start = at(2026, 11, 26, 11, 59, 59)
    assert clock.add_seconds(start, 2) == at(2026, 11, 26, 13, 30, 1)
    assert clock.elapsed_seconds(start, at(2026, 11, 26, 13, 30, 1)) == 2


def test_instant_in_another_offset_keeps_its_offset():
    utc_start = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
    result = clock.add_minutes(utc_start, 60)
    assert result == at(2026, 11, 26, 10, 0)
    assert result.utcoffset() == dt.timedelta(0)


def test_24x7():
    always = BusinessClock(CalendarSpec("Asia/Shanghai", always_open=True))
    assert always.add_minutes(at(2026, 11, 26, 23, 0), 120) == at(2026, 11, 27, 1, 0)


def test_overnight_shift_crossing_midnight():
    night = BusinessClock(
        CalendarSpec("Asia/Shanghai", weekly={d: [(T(0), T(6)), (T(22), T(0))] for d in range(7)})
    )
    assert night.add_minutes(at(2026, 11, 26, 23, 0), 120) == at(2026, 11, 27, 1, 0)
    assert night.elapsed_minutes(at(2026, 11, 26, 21, 0), at(2026, 11, 27, 7, 0)) == 8 * 60


def test_daylight_saving_spring_forward_shortens_the_day():
    berlin = ZoneInfo("Europe/Berlin")
    spec = CalendarSpec("Europe/Berlin", weekly={d: [(T(0), T(0))] for d in range(7)})
    day_clock = BusinessClock(spec)
    # 29 March 2026: clocks jump from 02:00 to 03:00, so the day has 23 hours.
    start, end = at(2026, 3, 29, 0, 0, zone=berlin), at(2026, 3, 30, 0, 0, zone=berlin)
    assert day_clock.elapsed_minutes(start, end) == 23 * 60
    assert day_clock.add_minutes(start, 180) == at(2026, 3, 29, 4, 0, zone=berlin)


def test_daylight_saving_in_office_hours():
    new_york = ZoneInfo("America/New_York")
    spec = CalendarSpec("America/New_York", weekly={d: [(T(9), T(17))] for d in range(5)})
    office = BusinessClock(spec)
    # Friday 6 March 16:00 EST + 2 h → Monday 9 March (EDT) 10:00.
    assert office.add_minutes(at(2026, 3, 6, 16, 0, zone=new_york), 120) == at(
        2026, 3, 9, 10, 0, zone=new_york
    )


@pytest.mark.parametrize(
    "bad",
    [
        dict(time_zone="Mars/Olympus"),
        dict(weekly={0: [(T(18), T(9))]}),
        dict(weekly={0: [(T(9), T(12)), (T(11), T(18))]}),
        dict(weekly={7: [(T(9), T(18))]}),
        dict(weekly={}),
        dict(
            off_days=frozenset({dt.date(2026, 1, 1)}),
            extra_workdays=frozenset({dt.date(2026, 1, 1)}),
        ),
    ],
)
def test_bad_calendars_are_refused(bad):
    fields = {"time_zone": "Asia/Shanghai", "weekly": {0: [(T(9), T(18))]}, **bad}
    with pytest.raises(CalendarError):
        CalendarSpec(**fields)


def test_bad_arguments_are_refused():
    with pytest.raises(CalendarError):
        clock.add_minutes(at(2026, 1, 1, 9), -1)
    with pytest.raises(CalendarError):
        clock.add_minutes(dt.datetime(2026, 1, 1, 9), 10)  # noqa: DTZ001 (naive on purpose)
    with pytest.raises(CalendarError):
        clock.elapsed_minutes(at(2026, 1, 2), at(2026, 1, 1))


instants = st.datetimes(
    min_value=dt.datetime(2024, 1, 1),  # noqa: DTZ001 (hypothesis wants naive bounds)
    max_value=dt.datetime(2028, 12, 31),  # noqa: DTZ001
    timezones=st.just(SH),
).map(lambda d: d.replace(microsecond=0))
durations = st.integers(min_value=0, max_value=60 * 24 * 60)


@settings(max_examples=300, deadline=None)
@given(instants, durations)
def test_adding_then_measuring_gives_the_duration_back(start, seconds):
    assert clock.elapsed_seconds(start, clock.add_seconds(start, seconds)) == seconds


@settings(max_examples=300, deadline=None)
@given(instants, durations, durations)
def test_adding_in_two_steps_equals_adding_once(start, first, second):
    assert clock.add_seconds(clock.add_seconds(start, first), second) == clock.add_seconds(
        start, first + second
    )


@settings(max_examples=300, deadline=None)
@given(instants, instants, durations, durations)
def test_monotonic_in_start_and_duration(a, b, d1, d2):
    early, late = min(a, b), max(a, b)
    assert clock.add_seconds(early, d1) <= clock.add_seconds(late, d1)
    assert clock.add_seconds(a, min(d1, d2)) <= clock.add_seconds(a, max(d1, d2))
