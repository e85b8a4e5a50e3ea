"""Business-time arithmetic on a calendar, exact to the second. Pure: no database access.

A calendar is turned into a sorted list of working intervals in UTC epoch seconds, with the
running total of working seconds before each interval. Adding N business seconds, or measuring
the business seconds between two instants, is then a binary search plus a subtraction, which is
what makes tens of thousands of due-time computations per second possible on one core.

Local working hours are placed on the calendar's IANA zone day by day, so daylight-saving
transitions are honoured: an interval that spans a clock change lasts its real elapsed time.
"""

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

Interval = tuple[dt.time, dt.time]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Years materialised at once when an instant falls outside what is already built.
_CHUNK_YEARS = 4


class CalendarError(ValueError):
    pass


def _epoch(moment: dt.datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError("instants must carry a time zone offset")
    return int((moment - _EPOCH).total_seconds())


def _instant(seconds: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class CalendarSpec:
    """What a business calendar says, independent of storage.

    weekly: weekday (0 = Monday) → working intervals in local time, end exclusive; an end of
    00:00 means midnight at the end of the day. off_days: dates with no work (holidays and
    closures). extra_workdays: dates worked although their weekday is not (调休), on
    `makeup_hours` (the Monday hours unless given).
    """

    time_zone: str
    weekly: Mapping[int, Sequence[Interval]] = field(default_factory=dict)
    always_open: bool = False
    off_days: frozenset[dt.date] = frozenset()
    extra_workdays: frozenset[dt.date] = frozenset()
    makeup_hours: Sequence[Interval] | None = None

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (KeyError, ValueError) as exc:
            raise CalendarError(f"unknown time zone {self.time_zone!r}") from exc
        overlap = self.off_days & self.extra_workdays
        if overlap:
            raise CalendarError(f"days both off and worked: {sorted(overlap)[:5]}")
        for weekday, intervals in self.weekly.items():
            if not 0 <= weekday <= 6:
                raise CalendarError(f"weekday {weekday} is not 0–6")
            _check_intervals(intervals)
        if self.makeup_hours is not None:
            _check_intervals(self.makeup_hours)
        if not self.always_open and not any(self.weekly.values()) and not self.extra_workdays:
            raise CalendarError("a calendar needs working hours")

    def hours_on(self, day: dt.date) -> Sequence[Interval]:
        if day in self.off_days:
            return ()
        if day in self.extra_workdays:
            return self.makeup_hours if self.makeup_hours is not None else self.weekly.get(0, ())
        return self.weekly.get(day.weekday(), ())


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def _check_intervals(intervals: Iterable[Interval]) -> None:
    previous_end = -1
    for start, end in intervals:
        start_m, end_m = _minutes(start), _minutes(end) or 24 * 60
        if start.second or end.second:
            raise CalendarError("working hours are given to the minute")
        if end_m <= start_m:
            raise CalendarError(f"interval {start}–{end} ends before it starts")
        if start_m < previous_end:
            raise CalendarError(f"interval {start}–{end} overlaps the one before")
        previous_end = end_m


class BusinessClock:
    """Arithmetic over one CalendarSpec. Build once, reuse: it caches its intervals."""

    def __init__(self, spec: CalendarSpec):
        self.spec = spec
        self.zone = ZoneInfo(spec.time_zone)
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._before: list[int] = []  # working seconds before each interval, from _first_year
        self._first_year: int | None = None
        self._last_year: int | None = None

    # --- building -------------------------------------------------------------------------
    def _day_intervals(self, day: dt.date) -> list[tuple[int, int]]:
        result = []
        for start, end in self.spec.hours_on(day):
            begin = dt.datetime.combine(day, start, tzinfo=self.zone)
            if _minutes(end) == 0:
                finish = dt.datetime.combine(
                    day + dt.timedelta(days=1), dt.time(0), tzinfo=self.zone
                )
            else:
                finish = dt.datetime.combine(day, end, tzinfo=self.zone)
            a, b = _epoch(begin), _epoch(finish)
            if b > a:
                result.append((a, b))
        return result

    def _build(self, first_year: int, last_year: int) -> None:
        starts: list[int] = []
        ends: list[int] = []
        day = dt.date(first_year, 1, 1)
        stop = dt.date(last_year + 1, 1, 1)
        one = dt.timedelta(days=1)
        while day < stop:
            for a, b in self._day_intervals(day):
                # Adjacent intervals (e.g. 18:00–24:00 then 00:00–09:00) merge into one.
                if ends and ends[-1] == a:
                    ends[-1] = b
                else:
                    starts.append(a)
                    ends.append(b)
            day += one
        before, total = [], 0
        for a, b in zip(starts, ends, strict=True):
            before.append(total)
            total += b - a
        self._starts, self._ends, self._before = starts, ends, before
        self._first_year, self._last_year = first_year, last_year

    def _cover(self, moment_seconds: int, forward_seconds: int = 0) -> None:
        """Make sure intervals exist around the instant and far enough beyond it."""
        year = _instant(moment_seconds).astimezone(self.zone).year
        first = self._first_year
        last = self._last_year
        needed_last = year + 1 + forward_seconds // (86400 * 120)  # ≥ one working day/4 months
        if first is None or last is None or year - 1 < first or needed_last > last:
            low = min(year - 1, first if first is not None else year - 1)
            high = max(needed_last + _CHUNK_YEARS, last if last is not None else 0)
            self._build(low, high)

    # --- queries --------------------------------------------------------------------------
    def _working_seconds_until(self, seconds: int) -> int:
        """Working seconds from the start of the built range to the instant."""
        i = bisect.bisect_right(self._starts, seconds) - 1
        if i < 0:
            return 0
        return self._before[i] + min(seconds, self._ends[i]) - self._starts[i]

    def elapsed_seconds(self, start: dt.datetime, end: dt.datetime) -> int:
        a, b = _epoch(start), _epoch(end)
        if b < a:
            raise CalendarError("end is before start")
        if self.spec.always_open:
            return b - a
        self._cover(a)
        self._cover(b)
        return self._working_seconds_until(b) - self._working_seconds_until(a)

    def add_seconds(self, start: dt.datetime, seconds: int) -> dt.datetime:
        if seconds < 0:
            raise CalendarError("a duration must not be negative")
        a = _epoch(start)
        if self.spec.always_open:
            return _instant(a + seconds).astimezone(start.tzinfo)
        if seconds == 0:
            return start
        self._cover(a, seconds)
        target = self._working_seconds_until(a) + seconds
        while target > self._before[-1] + self._ends[-1] - self._starts[-1]:
            if self._last_year is None or self._last_year > 9000:
                raise CalendarError("the calendar has no working time left")
            self._build(self._first_year or 1970, self._last_year + 2 * _CHUNK_YEARS)
        # The interval in which the target'th working second ends.
        i = bisect.bisect_left(self._before, target) - 1
        result = self._starts[i] + (target - self._before[i])
        return _instant(result).astimezone(start.tzinfo)

    def add_minutes(self, start: dt.datetime, minutes: int) -> dt.datetime:
        return self.add_seconds(start, minutes * 60)

    def elapsed_minutes(self, start: dt.datetime, end: dt.datetime) -> int:
        return self.elapsed_seconds(start, end) // 60

    def is_working(self, moment: dt.datetime) -> bool:
        if self.spec.always_open:
            return True
        seconds = _epoch(moment)
        self._cover(seconds)
        i = bisect.bisect_right(self._starts, seconds) - 1
        return i >= 0 and seconds < self._ends[i]
