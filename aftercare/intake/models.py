import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import InboundSource, InboundStatus, MailSecurity, OutboundStatus


def raw_mail_path(instance: "InboundEmail", filename: str) -> str:
    received = instance.received_at or timezone.now()
    return f"mail/raw/{received:%Y/%m/%d}/{uuid.uuid4().hex}.eml"


class Mailbox(models.Model):
    """A service mailbox (e.g. service@maker.cn): where mail is fetched from and sent as."""

    name = models.SlugField(_("名称"), max_length=50, unique=True)
    address = models.EmailField(_("邮箱地址"), unique=True)
    display_name = models.CharField(_("发件人名称"), max_length=100, blank=True)
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("负责团队"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="mailboxes",
    )
    is_active = models.BooleanField(_("启用"), default=True)
    allow_organisation_followups = models.BooleanField(
        _("允许同一企业域名的人追加回复"),
        default=False,
        help_text=_("关闭时只有工单的参与人能通过邮件追加回复，其他人的邮件会新建关联工单。"),
    )
    max_message_bytes = models.PositiveIntegerField(
        _("邮件大小上限（字节）"), default=25 * 1024 * 1024
    )
    imap_host = models.CharField(_("IMAP 服务器"), max_length=200, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP 端口"), default=993)
    imap_security = models.CharField(
        _("IMAP 加密"), max_length=10, choices=MailSecurity.choices, default=MailSecurity.SSL
    )
    imap_username = models.CharField(_("IMAP 用户名"), max_length=200, blank=True)
    imap_password = models.CharField(_("IMAP 密码"), max_length=200, blank=True)
    imap_folder = models.CharField(_("收件文件夹"), max_length=100, default="INBOX")
    imap_archive_folder = models.CharField(
        _("处理后移入文件夹"),
        max_length=100,
        blank=True,
        help_text=_("留空时只把邮件标记为已处理，不移动。"),
    )
    smtp_host = models.CharField(
        _("SMTP 服务器"), max_length=200, blank=True, help_text=_("留空时使用系统默认的发信设置。")
    )
    smtp_port = models.PositiveIntegerField(_("SMTP 端口"), default=465)
    smtp_security = models.CharField(
        _("SMTP 加密"), max_length=10, choices=MailSecurity.choices, default=MailSecurity.SSL
    )
    smtp_username = models.CharField(_("SMTP 用户名"), max_length=200, blank=True)
    smtp_password = models.CharField(_("SMTP 密码"), max_length=200, blank=True)
    # SHA-256 of the token a forwarding mail service presents to the inbound webhook; the
    # token can post mail into this mailbox and do nothing else.
    webhook_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    last_polled_at = models.DateTimeField(_("上次收信"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)

    class Meta:
        verbose_name = _("服务邮箱")
        verbose_name_plural = _("服务邮箱")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.address

    @property
    def from_header(self) -> str:
        """'华宁售后 <service@…>'; Django encodes the name when it sends."""
        name = "".join(c for c in self.display_name if c not in '"<>,;\\').strip()
        return f"{name} <{self.address}>" if name else self.address


class InboundEmail(models.Model):
    """Every mail that reached AfterCare, whatever became of it; the raw source is kept."""

    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound"
    )
    source = models.CharField(_("来源"), max_length=10, choices=InboundSource.choices)
    status = models.CharField(_("状态"), max_length=12, choices=InboundStatus.choices)
    reason = models.CharField(_("原因代码"), max_length=40, blank=True)
    detail = models.TextField(_("说明"), blank=True)
    # The Message-ID, or "sha256:<digest of the raw source>" when the mail has none.
    message_key = models.CharField(max_length=300, null=True, blank=True, unique=True)
    sender = models.CharField(_("发件人"), max_length=320, blank=True)
    subject = models.CharField(_("主题"), max_length=300, blank=True)
    raw = models.FileField(_("原始邮件"), upload_to=raw_mail_path, max_length=200)
    raw_size = models.PositiveBigIntegerField(_("大小"), default=0)
    raw_truncated = models.BooleanField(_("原文已截断"), default=False)
    # Everyone on the mail (From, To, Cc): they may add to the ticket by mail later.
    participants = models.JSONField(default=list, blank=True)
    full_text = models.TextField(_("完整正文"), blank=True)
    full_html = models.TextField(_("完整正文 HTML"), blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.OneToOneField(
        "tickets.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_email",
    )
    received_at = models.DateTimeField(_("接收时间"), default=timezone.now)
    processed_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("收到的邮件")
        verbose_name_plural = _("收到的邮件")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "-received_at"], name="inbound_status_recent")]

    def __str__(self) -> str:
        return f"{self.sender} · {self.subject}"


class MailThreadId(models.Model):
    """A Message-ID that belongs to a ticket: of mail received on it or sent from it."""

    message_id = models.CharField(max_length=300, unique=True)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)


class OutboundEmail(models.Model):
    """The outbox: mail is written here in the transaction that causes it and delivered by a
    task with retries, so an SMTP outage or a worker restart loses nothing."""

    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    purpose = models.CharField(_("用途"), max_length=32)
    is_automatic = models.BooleanField(_("系统自动"), default=False)
    # Counted against the loop-protection caps (automatic mail to the outside world).
    capped = models.BooleanField(default=True)
    to = models.JSONField(_("收件人"), default=list)
    cc = models.JSONField(_("抄送"), default=list, blank=True)
    subject = models.CharField(_("主题"), max_length=300)
    body_text = models.TextField(_("正文"))
    message_id = models.CharField(max_length=300, unique=True)
    in_reply_to = models.CharField(max_length=300, blank=True)
    references = models.TextField(blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"), default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("待发邮件")
        verbose_name_plural = _("发件箱")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbound_due"),
            models.Index(fields=["ticket", "is_automatic", "created_at"], name="outbound_auto"),
        ]

    def __str__(self) -> str:
        return f"{', '.join(self.to)} · {self.subject}"
