import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from aftercare.core.errors import ValidationFailed

from .calendars import touch_calendars
from .models import BusinessCalendar, CalendarException, PublicHoliday


@dataclass(frozen=True)
class HolidayDay:
    date: dt.date
    name: str
    is_off_day: bool


def parse_holiday_notice(document: Any) -> tuple[int, list[HolidayDay]]:
    """Check a holiday-cn style document {"year", "days": [{"name", "date", "isOffDay"}]}.

    Every problem is collected and reported together; nothing is returned half-checked.
    """
    if not isinstance(document, dict):
        raise ValidationFailed(_("节假日文件必须是 JSON 对象"), code="holiday_file_invalid")
    year = document.get("year")
    days = document.get("days")
    problems: list[str] = []
    if not isinstance(year, int) or not 1990 <= year <= 2200:
        problems.append(_("缺少有效的 year"))
    if not isinstance(days, list) or not days:
        problems.append(_("days 必须是非空列表"))
        days = []
    parsed: dict[dt.date, HolidayDay] = {}
    for index, entry in enumerate(days):
        where = f"days[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: " + _("必须是对象"))
            continue
        name, raw_date, off = entry.get("name"), entry.get("date"), entry.get("isOffDay")
        try:
            day = dt.date.fromisoformat(raw_date) if isinstance(raw_date, str) else None
        except ValueError:
            day = None
        if day is None:
            problems.append(f"{where}: " + _("日期无效：%(value)s") % {"value": str(raw_date)[:20]})
            continue
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: " + _("缺少名称"))
        if not isinstance(off, bool):
            problems.append(f"{where}: " + _("isOffDay 必须是 true 或 false"))
            continue
        if isinstance(year, int) and abs(day.year - year) > 1:
            problems.append(
                f"{where}: "
                + _("%(date)s 不属于 %(year)d 年的通知") % {"date": day.isoformat(), "year": year}
            )
        if not off and day.weekday() < 5:
            problems.append(
                f"{where}: "
                + _("%(date)s 是工作日，不能再标为调休上班") % {"date": day.isoformat()}
            )
        earlier = parsed.get(day)
        if earlier is not None:
            if earlier.is_off_day != off:
                problems.append(
                    f"{where}: " + _("%(date)s 同时标为放假和上班") % {"date": day.isoformat()}
                )
            else:
                problems.append(f"{where}: " + _("%(date)s 重复出现") % {"date": day.isoformat()})
            continue
        parsed[day] = HolidayDay(day, str(name).strip()[:50], off)
    if problems:
        raise ValidationFailed(
            _("节假日文件有 %(n)d 处错误") % {"n": len(problems)},
            code="holiday_file_invalid",
            details=problems,
        )
    assert isinstance(year, int)
    return year, sorted(parsed.values(), key=lambda d: d.date)


@transaction.atomic
def import_holiday_notice(*, document: Any, region: str = "CN") -> int:
    """Replace the days of one notice year with the document's. All or nothing.

    A day that another notice year already lists (late December appears in the next year's
    notice) is refused when the two disagree.
    """
    year, days = parse_holiday_notice(document)
    existing = {
        h.date: h
        for h in PublicHoliday.objects.filter(
            region=region, date__in=[d.date for d in days]
        ).exclude(notice_year=year)
    }
    conflicts = [
        d.date.isoformat()
        for d in days
        if d.date in existing and existing[d.date].is_off_day != d.is_off_day
    ]
    if conflicts:
        raise ValidationFailed(
            _("与其他年份通知矛盾的日期：%(dates)s") % {"dates": ", ".join(conflicts)},
            code="holiday_file_conflict",
            details=conflicts,
        )
    PublicHoliday.objects.filter(region=region, notice_year=year).delete()
    PublicHoliday.objects.filter(region=region, date__in=list(existing)).delete()
    PublicHoliday.objects.bulk_create(
        PublicHoliday(
            region=region, date=d.date, name=d.name, is_off_day=d.is_off_day, notice_year=year
        )
        for d in days
    )
    touch_calendars(region=region)
    return len(days)


@transaction.atomic
def set_calendar_exception(
    *, calendar: BusinessCalendar, date: dt.date, is_working: bool, note: str = ""
) -> CalendarException:
    exception, _created = CalendarException.objects.update_or_create(
        calendar=calendar, date=date, defaults={"is_working": is_working, "note": note[:100]}
    )
    touch_calendars()
    return exception
