from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftercare.accounts.choices import Department

from .choices import (
    ACTIVE_REQUEST_STATUS_VALUES,
    ACTIVE_REQUEST_STATUSES,
    RequestKind,
    RequestStatus,
)


class Notification(models.Model):
    """An in-app notification; its email copy is sent by a task."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("类型"), max_length=32)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]


class CollaborationRequest(models.Model):
    """协同请求: one ticket asks a department (optionally one of its teams or one person) for an
    action or an answer by a due time (the OLA)."""

    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("工单"),
        on_delete=models.CASCADE,
        related_name="collaboration_requests",
    )
    kind = models.CharField(_("类型"), max_length=32, choices=RequestKind.choices)
    status = models.CharField(
        _("状态"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    question = models.TextField(_("请求内容"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("发起人"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requesting_team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("发起团队"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    target_department = models.CharField(_("协同部门"), max_length=32, choices=Department.choices)
    target_team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("协同团队"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="collaboration_requests",
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("协同人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="collaboration_requests",
    )
    due_at = models.DateTimeField(_("截止时间"))
    ola_minutes = models.PositiveIntegerField(_("OLA（工作分钟）"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(_("受理时间"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    response = models.TextField(_("答复"), blank=True)
    decline_reason = models.TextField(_("拒绝原因"), blank=True)
    cancel_reason = models.TextField(_("取消原因"), blank=True)
    # When the target side is warned that the due time nears (a share of the OLA elapsed).
    warn_at = models.DateTimeField(_("预警时间"), null=True, blank=True)
    # Each set once, by the sweep's conditional update.
    warned_at = models.DateTimeField(_("已预警时间"), null=True, blank=True)
    overdue_at = models.DateTimeField(_("超时时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("协同请求")
        verbose_name_plural = _("协同请求")
        ordering = ["due_at", "id"]
        indexes = [
            # The overdue sweep: active requests not yet marked, by due time.
            models.Index(
                fields=["due_at"],
                name="collab_request_overdue_sweep",
                condition=models.Q(
                    status__in=ACTIVE_REQUEST_STATUS_VALUES, overdue_at__isnull=True
                ),
            ),
            models.Index(
                fields=["warn_at"],
                name="collab_request_warning_sweep",
                condition=models.Q(
                    status__in=ACTIVE_REQUEST_STATUS_VALUES,
                    warned_at__isnull=True,
                    overdue_at__isnull=True,
                ),
            ),
            # A department's queue.
            models.Index(
                fields=["target_department", "status", "due_at"], name="collab_request_queue"
            ),
            models.Index(fields=["ticket", "status"], name="collab_request_ticket"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.get_target_department_display()}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_REQUEST_STATUSES
