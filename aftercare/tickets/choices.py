from django.db import models
from django.utils.translation import gettext_lazy as _


class TicketKind(models.TextChoices):
    INQUIRY = "inquiry", _("咨询")
    COMPLAINT = "complaint", _("投诉")
    REPAIR = "repair", _("报修")
    RETURN = "return", _("退货")
    EXCHANGE = "exchange", _("换货")
    INSTALLATION = "installation", _("安装")
    MAINTENANCE = "maintenance", _("保养")
    OTHER = "other", _("其他")


class Channel(models.TextChoices):
    PORTAL = "portal", _("客户门户")
    EMAIL = "email", _("邮件")
    CHAT = "chat", _("在线客服")
    PHONE = "phone", _("电话")
    API = "api", _("API")
    WECHAT = "wechat", _("微信")
    APP = "app", _("App")


class Priority(models.TextChoices):
    URGENT = "urgent", _("紧急")
    REGULAR = "regular", _("常规")
    COMPLEX = "complex", _("复杂")


class Status(models.TextChoices):
    NEW = "new", _("新建")
    OPEN = "open", _("处理中")
    PENDING_CUSTOMER = "pending_customer", _("待客户回复")
    ON_HOLD = "on_hold", _("挂起")
    RESOLVED = "resolved", _("已解决")
    CLOSED = "closed", _("已关闭")


# A fixed order: index conditions and migrations must not depend on set iteration order.
OPEN_STATUS_VALUES = ("new", "open", "pending_customer", "on_hold")
OPEN_STATUSES = frozenset(Status(value) for value in OPEN_STATUS_VALUES)


class MessageVisibility(models.TextChoices):
    PUBLIC = "public", _("公开回复")
    INTERNAL = "internal", _("内部备注")


class LinkKind(models.TextChoices):
    DUPLICATE_OF = "duplicate_of", _("重复于")
    RELATED = "related", _("相关")
    PARENT_OF = "parent_of", _("父工单")


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("文本")
    NUMBER = "number", _("数字")
    BOOLEAN = "boolean", _("是/否")
    DATE = "date", _("日期")
    CHOICE = "choice", _("单选")


class EventKind(models.TextChoices):
    CREATED = "created", _("创建")
    FIELD_CHANGED = "field_changed", _("字段变更")
    STATUS_CHANGED = "status_changed", _("状态变更")
    ASSIGNED = "assigned", _("分配")
    MESSAGE_ADDED = "message_added", _("新消息")
    ATTACHMENT_ADDED = "attachment_added", _("新附件")
    LINKED = "linked", _("关联")
    UNLINKED = "unlinked", _("取消关联")
    MERGED_INTO = "merged_into", _("合并到")
    MERGED_IN = "merged_in", _("合并入")
    FOLLOWER_ADDED = "follower_added", _("添加关注")
    FOLLOWER_REMOVED = "follower_removed", _("取消关注")
    ACKNOWLEDGED = "acknowledged", _("已发送受理通知")
    EMAIL_BOUNCED = "email_bounced", _("邮件退信")
    EMAIL_SUPPRESSED = "email_suppressed", _("自动邮件已抑制")
    SLA_APPLIED = "sla_applied", _("SLA 目标")
    SLA_MET = "sla_met", _("SLA 达成")
    SLA_WARNING = "sla_warning", _("SLA 预警")
    SLA_BREACHED = "sla_breached", _("SLA 超时")
    SLA_ESCALATED = "sla_escalated", _("SLA 升级")
    COLLAB_REQUESTED = "collab_requested", _("发起协同请求")
    COLLAB_ACCEPTED = "collab_accepted", _("协同请求已受理")
    COLLAB_DONE = "collab_done", _("协同请求已完成")
    COLLAB_DECLINED = "collab_declined", _("协同请求被拒绝")
    COLLAB_CANCELLED = "collab_cancelled", _("协同请求已取消")
    COLLAB_WARNING = "collab_warning", _("协同请求即将超时")
    COLLAB_OVERDUE = "collab_overdue", _("协同请求超时")
    COLLAB_OVERRIDDEN = "collab_overridden", _("未完成协同请求时强制解决")
    HANDOFF = "handoff", _("转交")
    HANDOFF_BOUNCED = "handoff_bounced", _("多次转交预警")
