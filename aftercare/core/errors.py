"""Errors the domain raises. The API turns each into JSON {"code", "message", "details"} with
its HTTP status; pages show the message. Codes are stable; messages follow the caller's language.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status = 400
    code = "bad_request"
    default_message = _("请求无效")

    def __init__(self, message: Any = None, *, code: str | None = None, details: Any = None):
        self.message = message if message is not None else self.default_message
        if code:
            self.code = code
        self.details = details
        super().__init__(str(self.message))


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = _("未找到")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = _("没有权限执行此操作")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = _("与当前状态冲突")


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"
    default_message = _("输入有误")


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    default_message = _("内容过大")
