"""The cn-workday and 24x7 calendars as migrated, checked against the State Council notices in
../shared/data/holidays-cn (every holiday and make-up day of 2019–2026), holiday import and
the sla_calc command."""

import copy
import datetime as dt
import json
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from aftercare.core.errors import ValidationFailed
from aftercare.core.shared_data import shared_data_dir
from aftercare.sla.calendars import clock_for
from aftercare.sla.models import BusinessCalendar, PublicHoliday
from aftercare.sla.services import import_holiday_notice, set_calendar_exception

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
HOLIDAYS_CN = shared_data_dir() / "holidays-cn"


def notices() -> list[dict]:
    files = sorted(HOLIDAYS_CN.glob("20*.json"))
    assert files, f"holiday data not found in {HOLIDAYS_CN}"
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def working_minutes(day: dt.date) -> int:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=SH)
    return clock_for("cn-workday").elapsed_minutes(start, start + dt.timedelta(days=1))


def test_two_calendars_exist_after_migrate():
    assert set(BusinessCalendar.objects.values_list("slug", flat=True)) >= {"cn-workday", "24x7"}


def test_every_notice_day_of_2019_to_2026_matches_cn_workday():
    checked = 0
    for notice in notices():
        for entry in notice["days"]:
            day = dt.date.fromisoformat(entry["date"])
            expected = 0 if entry["isOffDay"] else 9 * 60
            assert working_minutes(day) == expected, (entry, notice["year"])
            checked += 1
    assert checked == 286


def test_ordinary_days_follow_the_week():
    assert working_minutes(dt.date(2026, 11, 26)) == 9 * 60  # Thursday
    assert working_minutes(dt.date(2026, 11, 28)) == 0  # Saturday


def test_24x7_counts_every_minute():
    start = dt.datetime(2026, 10, 1, 0, 0, tzinfo=SH)  # National Day
    assert clock_for("24x7").add_minutes(start, 120) == start + dt.timedelta(hours=2)


def test_calendar_exception_is_seen_at_once():
    calendar = BusinessCalendar.objects.get(slug="cn-workday")
    day = dt.date(2026, 12, 4)
    assert working_minutes(day) == 540
    set_calendar_exception(calendar=calendar, date=day, is_working=False, note="年终盘点")
    assert working_minutes(day) == 0


def test_import_next_years_notice_without_code_change():
    notice = {
        "year": 2027,
        "days": [
            {"name": "元旦", "date": "2027-01-01", "isOffDay": True},
            {"name": "春节", "date": "2027-02-06", "isOffDay": False},  # a Saturday worked
        ],
    }
    assert working_minutes(dt.date(2027, 1, 1)) == 540
    assert import_holiday_notice(document=notice) == 2
    assert working_minutes(dt.date(2027, 1, 1)) == 0
    assert working_minutes(dt.date(2027, 2, 6)) == 540
    # Importing the same year again replaces it.
    notice["days"] = notice["days"][:1]
    import_holiday_notice(document=notice)
    assert working_minutes(dt.date(2027, 2, 6)) == 0


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (
            lambda n: n["days"].append({"name": "元旦", "date": "2026-01-01", "isOffDay": False}),
            "同时标为放假和上班",
        ),
        (lambda n: n["days"].append(dict(n["days"][0])), "重复出现"),
        (
            lambda n: n["days"].append({"name": "X", "date": "2026-13-01", "isOffDay": True}),
            "日期无效",
        ),
        (
            lambda n: n["days"].append({"name": "X", "date": "2026-03-03", "isOffDay": False}),
            "是工作日",
        ),
        (lambda n: n.update(year="2026"), "year"),
        (
            lambda n: n["days"].append({"name": "X", "date": "2026-05-01", "isOffDay": "yes"}),
            "isOffDay",
        ),
    ],
)
def test_bad_notice_is_refused_and_nothing_imported(mutate, fragment):
    notice = copy.deepcopy(next(n for n in notices() if n["year"] == 2026))
    mutate(notice)
    before = list(PublicHoliday.objects.order_by("date").values_list("date", "is_off_day"))
    with pytest.raises(ValidationFailed) as caught:
        import_holiday_notice(document=notice)
    assert caught.value.code == "holiday_file_invalid"
    assert any(fragment in problem for problem in caught.value.details)
    assert list(PublicHoliday.objects.order_by("date").values_list("date", "is_off_day")) == before


def test_notice_contradicting_another_year_is_refused():
    notice = {"year": 2027, "days": [{"name": "国庆节", "date": "2026-10-10", "isOffDay": True}]}
    with pytest.raises(ValidationFailed) as caught:
        import_holiday_notice(document=notice)
    assert caught.value.code == "holiday_file_conflict"


def test_import_command_reads_real_files():
    out = StringIO()
    call_command("import_holidays", str(HOLIDAYS_CN / "2026.json"), stdout=out)
    assert "days imported" in out.getvalue()
    assert working_minutes(dt.date(2026, 2, 28)) == 540


def sla_calc(*args: str) -> str:
    out = StringIO()
    call_command("sla_calc", *args, stdout=out)
    return out.getvalue()


def test_sla_calc_add_and_elapsed():
    assert (
        sla_calc(
            "--calendar",
            "cn-workday",
            "--start",
            "2026-09-30T17:00:00+08:00",
            "--add-minutes",
            "720",
        )
        == "2026-10-09T11:00:00+08:00\n"
    )
    assert (
        sla_calc(
            "--calendar",
            "cn-workday",
            "--start",
            "2026-09-30T17:00:00+08:00",
            "--end",
            "2026-10-09T11:00:00+08:00",
        )
        == "720\n"
    )
    assert (
        sla_calc(
            "--calendar", "24x7", "--start", "2026-11-26T10:00:00+00:00", "--add-minutes", "120"
        )
        == "2026-11-26T12:00:00+00:00\n"
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--calendar", "nope", "--start", "2026-01-01T00:00:00+08:00", "--add-minutes", "5"],
            "工作日历不存在",
        ),
        (["--calendar", "cn-workday", "--start", "yesterday", "--add-minutes", "5"], "ISO 8601"),
        (
            ["--calendar", "cn-workday", "--start", "2026-01-01T09:00:00", "--add-minutes", "5"],
            "UTC offset",
        ),
        (
            [
                "--calendar",
                "cn-workday",
                "--start",
                "2026-01-01T09:00:00+08:00",
                "--add-minutes",
                "-5",
            ],
            "negative",
        ),
        (
            [
                "--calendar",
                "cn-workday",
                "--start",
                "2026-01-02T09:00:00+08:00",
                "--end",
                "2026-01-01T09:00:00+08:00",
            ],
            "before",
        ),
    ],
)
def test_sla_calc_bad_input(args, message):
    with pytest.raises(CommandError) as caught:
        sla_calc(*args)
    assert message in str(caught.value)


def test_admin_imports_a_notice_file(personas, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    personas.ada.is_staff = personas.ada.is_superuser = True
    personas.ada.save()
    client.force_login(personas.ada)
    notice = json.dumps(
        {"year": 2027, "days": [{"name": "元旦", "date": "2027-01-01", "isOffDay": True}]}
    ).encode()
    response = client.post(
        "/admin/sla/publicholiday/import/",
        {"region": "CN", "file": SimpleUploadedFile("2027.json", notice)},
    )
    assert response.status_code == 302
    assert working_minutes(dt.date(2027, 1, 1)) == 0
    broken = client.post(
        "/admin/sla/publicholiday/import/",
        {"region": "CN", "file": SimpleUploadedFile("x.json", b"{not json")},
    )
    assert broken.status_code == 200
    assert "不是有效的 JSON" in broken.content.decode()
