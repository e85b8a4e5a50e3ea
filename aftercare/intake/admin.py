from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aftercare.core.errors import DomainError

from .choices import InboundStatus, OutboundStatus
from .inbound import discard_quarantined, reprocess_quarantined
from .models import InboundEmail, Mailbox, OutboundEmail
from .services import issue_webhook_token


class MailboxForm(forms.ModelForm):
    imap_password = forms.CharField(
        label=gettext_lazy("IMAP 密码"),
        required=False,
        widget=forms.PasswordInput(render_value=True),
    )
    smtp_password = forms.CharField(
        label=gettext_lazy("SMTP 密码"),
        required=False,
        widget=forms.PasswordInput(render_value=True),
    )

    class Meta:
        model = Mailbox
        fields = [
            "name",
            "address",
            "display_name",
            "team",
            "is_active",
            "allow_organisation_followups",
            "max_message_bytes",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "imap_password",
            "imap_folder",
            "imap_archive_folder",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "smtp_username",
            "smtp_password",
        ]


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxForm
    list_display = ["name", "address", "team", "is_active", "last_polled_at", "last_error"]
    readonly_fields = ["last_polled_at", "last_error"]
    actions = ["poll_now", "new_webhook_token"]

    @admin.action(description=gettext_lazy("立即收信"))
    def poll_now(self, request, queryset):
        from .imap import poll_mailbox

        for mailbox in queryset.exclude(imap_host=""):
            report = poll_mailbox(mailbox)
            level = messages.ERROR if report.error else messages.SUCCESS
            self.message_user(
                request,
                _("%(name)s：收到 %(count)d 封 %(error)s")
                % {"name": mailbox.name, "count": report.fetched, "error": report.error},
                level,
            )

    @admin.action(description=gettext_lazy("生成新的转发接口令牌"))
    def new_webhook_token(self, request, queryset):
        for mailbox in queryset:
            raw = issue_webhook_token(mailbox=mailbox)
            self.message_user(
                request,
                _("%(name)s 的新令牌（只显示这一次）：%(token)s")
                % {"name": mailbox.name, "token": raw},
                messages.WARNING,
            )


@admin.register(InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    list_display = ["received_at", "status", "reason", "sender", "subject", "ticket", "source"]
    list_filter = ["status", "source", "mailbox"]
    search_fields = ["sender", "subject", "message_key", "reason"]
    date_hierarchy = "received_at"
    actions = ["reprocess", "discard"]
    readonly_fields = [f.name for f in InboundEmail._meta.fields if f.name != "raw"] + [
        "raw_download"
    ]
    exclude = ["raw"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=gettext_lazy("原始邮件"))
    def raw_download(self, obj):
        url = reverse("api-1.0.0:inbound_raw", kwargs={"inbound_id": obj.pk})
        return format_html('<a href="{}">{}</a>', url, _("下载 .eml"))

    @admin.action(description=gettext_lazy("重新处理隔离中的邮件"))
    def reprocess(self, request, queryset):
        for inbound in queryset.filter(status=InboundStatus.QUARANTINED):
            try:
                result = reprocess_quarantined(inbound=inbound)
            except DomainError as exc:
                self.message_user(request, f"{inbound}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{inbound.sender}: {result.status} {result.reason}")

    @admin.action(description=gettext_lazy("丢弃隔离中的邮件"))
    def discard(self, request, queryset):
        for inbound in queryset.filter(status=InboundStatus.QUARANTINED):
            discard_quarantined(inbound=inbound, actor=request.user)


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "status", "purpose", "subject", "attempts", "last_error"]
    list_filter = ["status", "purpose", "is_automatic"]
    search_fields = ["subject", "message_id"]
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=gettext_lazy("立即重试发送"))
    def retry_now(self, request, queryset):
        from .tasks import deliver_email

        ids = list(
            queryset.filter(status__in=[OutboundStatus.FAILED, OutboundStatus.QUEUED]).values_list(
                "pk", flat=True
            )
        )
        OutboundEmail.objects.filter(pk__in=ids).update(
            status=OutboundStatus.QUEUED, next_attempt_at=timezone.now()
        )
        for pk in ids:
            deliver_email(pk)
