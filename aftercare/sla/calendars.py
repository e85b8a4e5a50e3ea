"""Loading calendars from the database into BusinessClock objects, cached per process and
rebuilt when the calendar, its exceptions or the holidays change."""

import threading

from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.core.errors import NotFound, ValidationFailed

from .business_time import BusinessClock, CalendarError, CalendarSpec
from .models import BusinessCalendar, PublicHoliday, parse_hours

_cache: dict[str, tuple[object, BusinessClock]] = {}
_lock = threading.Lock()


def touch_calendars(*, region: str | None = None) -> None:
    """Mark calendars changed so every process rebuilds its cached clock on next use. Called by
    every write to holidays or exceptions (services and admin alike)."""
    calendars = BusinessCalendar.objects.all()
    if region is not None:
        calendars = calendars.filter(holiday_region=region)
    calendars.update(updated_at=timezone.now())


def spec_for(calendar: BusinessCalendar) -> CalendarSpec:
    off_days: set = set()
    extra_workdays: set = set()
    if calendar.holiday_region:
        for day, is_off in PublicHoliday.objects.filter(region=calendar.holiday_region).values_list(
            "date", "is_off_day"
        ):
            (off_days if is_off else extra_workdays).add(day)
    for day, is_working in calendar.exceptions.values_list("date", "is_working"):
        # The calendar's own exceptions win over the public holidays.
        off_days.discard(day)
        extra_workdays.discard(day)
        (extra_workdays if is_working else off_days).add(day)
    try:
        weekly = {int(k): parse_hours(v) for k, v in (calendar.weekly_hours or {}).items()}
        return CalendarSpec(
            time_zone=calendar.time_zone,
            weekly=weekly,
            always_open=calendar.is_24x7,
            off_days=frozenset(off_days),
            extra_workdays=frozenset(extra_workdays),
            makeup_hours=parse_hours(calendar.makeup_hours) if calendar.makeup_hours else None,
        )
    except (CalendarError, ValueError, TypeError) as exc:
        raise ValidationFailed(
            _("工作日历“%(slug)s”配置有误：%(error)s") % {"slug": calendar.slug, "error": exc},
            code="calendar_invalid",
        ) from exc


def clock_for(slug: str) -> BusinessClock:
    calendar = BusinessCalendar.objects.filter(slug=slug).first()
    if calendar is None:
        raise NotFound(_("工作日历不存在：%(slug)s") % {"slug": slug}, code="calendar_not_found")
    return clock_of(calendar)


def clock_of(calendar: BusinessCalendar) -> BusinessClock:
    """The clock of a calendar row already loaded; rebuilt only when the row changed."""
    slug, version = calendar.slug, calendar.updated_at
    with _lock:
        cached = _cache.get(slug)
        if cached and cached[0] == version:
            return cached[1]
    clock = BusinessClock(spec_for(calendar))
    with _lock:
        _cache[slug] = (version, clock)
    return clock
