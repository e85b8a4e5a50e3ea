import datetime as dt
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftercare.core.conf import rule

from .choices import (
    OPEN_STATUS_VALUES,
    OPEN_STATUSES,
    Channel,
    CustomFieldType,
    EventKind,
    LinkKind,
    MessageVisibility,
    Priority,
    Status,
    TicketKind,
)


def new_public_reference() -> str:
    # 128 bits of randomness: safe to put in links sent to customers.
    return secrets.token_urlsafe(16)


class Ticket(models.Model):
    number = models.CharField(_("工单号"), max_length=32, unique=True)
    public_reference = models.CharField(
        _("公开引用"), max_length=32, unique=True, default=new_public_reference, editable=False
    )
    kind = models.CharField(_("类型"), max_length=16, choices=TicketKind.choices)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    subject = models.CharField(_("标题"), max_length=200)
    description = models.TextField(_("描述"), blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="tickets",
    )
    contact = models.ForeignKey(
        "customers.Contact",
        verbose_name=_("联系人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    product_unit = models.ForeignKey(
        "catalog.ProductUnit",
        verbose_name=_("产品机器"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    priority = models.CharField(
        _("优先级"), max_length=16, choices=Priority.choices, default=Priority.REGULAR
    )
    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.NEW)
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("团队"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    tags = models.JSONField(_("标签"), default=list, blank=True)
    custom_fields = models.JSONField(_("自定义字段"), default=dict, blank=True)
    followers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("关注人"),
        related_name="followed_tickets",
        blank=True,
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("已合并到"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_tickets",
    )
    # Time the next promise to the customer falls due. Set from the priority tier's target on
    # creation; the SLA engine keeps it current once it owns the clocks.
    due_at = models.DateTimeField(_("截止时间"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)
    first_response_at = models.DateTimeField(_("首次响应时间"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("解决时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("关闭时间"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("工单")
        verbose_name_plural = _("工单")
        indexes = [
            # The team queue: open tickets of one team by due time, then age.
            models.Index(
                fields=["team", "due_at", "created_at"],
                name="ticket_open_team_queue",
                condition=models.Q(status__in=OPEN_STATUS_VALUES),
            ),
            models.Index(
                fields=["assignee", "due_at", "created_at"],
                name="ticket_open_assignee_queue",
                condition=models.Q(status__in=OPEN_STATUS_VALUES),
            ),
            models.Index(fields=["customer", "created_at"], name="ticket_customer_created"),
            models.Index(fields=["created_at", "id"], name="ticket_created"),
            models.Index(fields=["status", "created_at"], name="ticket_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def reopen_deadline(self) -> dt.datetime | None:
        if self.resolved_at is None:
            return None
        return self.resolved_at + dt.timedelta(days=rule("REOPEN_WINDOW_DAYS"))

    def can_reopen(self, at: dt.datetime | None = None) -> bool:
        if self.merged_into_id is not None:
            return False
        if self.status not in (Status.RESOLVED, Status.CLOSED):
            return False
        deadline = self.reopen_deadline()
        return deadline is not None and (at or timezone.now()) <= deadline


class TicketNumberCounter(models.Model):
    """Per-year counter behind AC-YYYY-NNNNNN on SQLite. PostgreSQL uses a sequence instead,
    so that concurrent intake does not queue on one row lock."""

    year = models.PositiveIntegerField(primary_key=True)
    last_value = models.PositiveBigIntegerField(default=0)


class Message(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    # Where the message was written; differs from `ticket` after a merge.
    original_ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    visibility = models.CharField(
        _("可见性"),
        max_length=16,
        choices=MessageVisibility.choices,
        default=MessageVisibility.PUBLIC,
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("作者"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    channel = models.CharField(
        _("渠道"), max_length=16, choices=Channel.choices, default=Channel.API
    )
    body_text = models.TextField(_("正文"))
    body_html = models.TextField(_("正文 HTML"), blank=True)
    is_automatic = models.BooleanField(_("系统自动"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("消息")
        verbose_name_plural = _("消息")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="message_ticket_created")]


def attachment_path(instance: "Attachment", filename: str) -> str:
    # Stored under a random name; the original name is only ever sent back in a header.
    now = timezone.now()
    return f"attachments/{now:%Y/%m}/{secrets.token_hex(16)}"


class Attachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=200)
    original_name = models.CharField(_("文件名"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    is_internal = models.BooleanField(_("仅内部可见"), default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering = ["created_at", "id"]


class TicketEvent(models.Model):
    """Append-only timeline: one row per change, written in the change's transaction."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    field = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    is_internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("工单事件")
        verbose_name_plural = _("工单事件")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at", "id"], name="event_ticket_created")]


class TicketLink(models.Model):
    source = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(max_length=16, choices=LinkKind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("工单关联")
        verbose_name_plural = _("工单关联")
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="unique_ticket_link"),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")), name="ticket_link_not_self"
            ),
        ]


class CustomFieldDefinition(models.Model):
    """A field an admin declares for tickets of one kind (or of every kind when kind is blank)."""

    key = models.SlugField(_("键"), max_length=50)
    label = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(
        _("适用工单类型"), max_length=16, choices=TicketKind.choices, blank=True
    )
    field_type = models.CharField(_("字段类型"), max_length=16, choices=CustomFieldType.choices)
    choices = models.JSONField(_("可选值"), default=list, blank=True)
    required = models.BooleanField(_("必填"), default=False)
    agent_only = models.BooleanField(_("仅坐席可填"), default=False)
    is_active = models.BooleanField(_("启用"), default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("自定义字段")
        verbose_name_plural = _("自定义字段")
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["key", "kind"], name="unique_custom_field_per_kind")
        ]

    def __str__(self) -> str:
        return self.label


class TicketSearchDocument(models.Model):
    """Search tokens of one ticket (see search.py). Indexed by FTS5 on SQLite and by a GIN
    tsvector expression index on PostgreSQL; both set up in migration 0002."""

    ticket = models.OneToOneField(
        Ticket, primary_key=True, on_delete=models.CASCADE, related_name="search_document"
    )
    tokens = models.TextField()
