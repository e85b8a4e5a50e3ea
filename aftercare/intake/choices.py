from django.db import models
from django.utils.translation import gettext_lazy as _


class MailSecurity(models.TextChoices):
    SSL = "ssl", _("SSL/TLS")
    STARTTLS = "starttls", _("STARTTLS")
    NONE = "none", _("不加密（仅限内网）")


class InboundSource(models.TextChoices):
    IMAP = "imap", _("IMAP 收信")
    WEBHOOK = "webhook", _("转发接口")
    IMPORT = "import", _("导入")


class InboundStatus(models.TextChoices):
    CREATED = "created", _("已新建工单")
    APPENDED = "appended", _("已追加到工单")
    BOUNCE = "bounce", _("退信已记录")
    QUARANTINED = "quarantined", _("已隔离")
    DISCARDED = "discarded", _("已丢弃")


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", _("待发送")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")
    SUPPRESSED = "suppressed", _("已抑制")
