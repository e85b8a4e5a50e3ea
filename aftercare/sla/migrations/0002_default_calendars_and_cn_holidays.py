"""The two calendars every installation starts with, and the Chinese statutory holidays and
make-up workdays of the notices for 2019–2026, taken from the maintained `chinesecalendar`
package. Later years are imported by an admin (`manage.py import_holidays`, or the admin page)
the day the State Council publishes them."""

import datetime as dt

from django.db import migrations

FIRST_NOTICE, LAST_NOTICE = 2019, 2026
WORKDAY_HOURS = {str(d): [["09:00", "18:00"]] for d in range(5)} | {"5": [], "6": []}


def notice_year(day: dt.date, holiday: str) -> int:
    # The make-up days and holidays at the end of December belong to next year's New Year notice.
    return day.year + 1 if day.month == 12 and holiday == "New Year's Day" else day.year


def forward(apps, schema_editor):
    from chinese_calendar import constants

    calendar_model = apps.get_model("sla", "BusinessCalendar")
    holiday_model = apps.get_model("sla", "PublicHoliday")
    calendar_model.objects.get_or_create(
        slug="cn-workday",
        defaults={"name": "中国工作日（周一至周五 9:00–18:00）", "time_zone": "Asia/Shanghai",
                  "weekly_hours": WORKDAY_HOURS, "holiday_region": "CN"},
    )
    calendar_model.objects.get_or_create(
        slug="24x7", defaults={"name": "7×24 小时", "time_zone": "Asia/Shanghai", "is_24x7": True}
    )
    chinese = {h.value: h.chinese for h in constants.Holiday}
    rows = []
    for table, is_off in ((constants.holidays, True), (constants.workdays, False)):
        for day, holiday in table.items():
            year = notice_year(day, holiday)
            if FIRST_NOTICE <= year <= LAST_NOTICE:
                rows.append(holiday_model(region="CN", date=day, name=chinese.get(holiday, holiday),
                                          is_off_day=is_off, notice_year=year))
    holiday_model.objects.bulk_create(rows, ignore_conflicts=True)


def backward(apps, schema_editor):
    apps.get_model("sla", "PublicHoliday").objects.filter(
        region="CN", notice_year__range=(FIRST_NOTICE, LAST_NOTICE)
    ).delete()
    apps.get_model("sla", "BusinessCalendar").objects.filter(slug__in=["cn-workday", "24x7"]).delete()


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
