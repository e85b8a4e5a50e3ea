import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aftercare.core.errors import DomainError

from . import tasks
from .calendars import touch_calendars
from .engine import forget_rules
from .models import (
    BusinessCalendar,
    CalendarException,
    EscalationLevel,
    PublicHoliday,
    SlaPolicy,
    SlaTarget,
)
from .services import import_holiday_notice


class ExceptionInline(admin.TabularInline):
    model = CalendarException
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "time_zone", "is_24x7", "holiday_region"]
    inlines = [ExceptionInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        touch_calendars()


class HolidayNoticeForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("节假日通知文件（holiday-cn JSON 格式）"))
    region = forms.CharField(label=gettext_lazy("地区"), initial="CN", max_length=8)


@admin.register(PublicHoliday)
class PublicHolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "name", "is_off_day", "region", "notice_year"]
    list_filter = ["region", "notice_year", "is_off_day"]
    date_hierarchy = "date"
    change_list_template = "admin/sla/publicholiday/change_list.html"

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_notice),
                name="sla_publicholiday_import",
            ),
            *super().get_urls(),
        ]

    def import_notice(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = HolidayNoticeForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                document = json.loads(upload.read(2 * 1024 * 1024).decode("utf-8"))
                count = import_holiday_notice(document=document, region=form.cleaned_data["region"])
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                form.add_error("file", _("不是有效的 JSON：%(error)s") % {"error": exc})
            except DomainError as exc:
                for problem in exc.details or [exc.message]:
                    form.add_error("file", str(problem))
            else:
                messages.success(request, _("已导入 %(n)d 天") % {"n": count})
                return redirect("admin:sla_publicholiday_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": _("导入节假日通知"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/sla/publicholiday/import.html", context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        touch_calendars(region=obj.region)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        touch_calendars(region=obj.region)


class TargetInline(admin.TabularInline):
    model = SlaTarget
    extra = 0


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "is_active", "priorities", "kinds", "channels"]
    list_editable = ["position", "is_active"]
    filter_horizontal = ["product_lines", "teams"]
    inlines = [TargetInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        forget_rules()
        policy_id = form.instance.pk
        # Open tickets under this policy get their clocks re-evaluated in the background.
        transaction.on_commit(lambda: tasks.reevaluate_policy(policy_id))


@admin.register(EscalationLevel)
class EscalationLevelAdmin(admin.ModelAdmin):
    list_display = ["level", "after_minutes", "notify_role", "raise_priority_to", "move_to_team"]
    filter_horizontal = ["notify_users"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        forget_rules()
