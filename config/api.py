"""The one NinjaAPI. Every error leaves as JSON {"code", "message", "details"}."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from aftercare.accounts.api import router as accounts_router
from aftercare.assist.api import router as triage_router
from aftercare.catalog.api import router as catalog_router
from aftercare.collab.api import router as collab_router
from aftercare.core.api_support import BearerTokenAuth, JsonBodyParser, SessionAuth
from aftercare.core.errors import DomainError
from aftercare.customers.api import router as customers_router
from aftercare.intake.api import router as intake_router
from aftercare.kb.api import router as kb_router
from aftercare.sla.api import router as sla_router
from aftercare.tickets.api import attachments_router
from aftercare.tickets.api import router as tickets_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="AfterCare API",
    version="1.0.0",
    description="售后协同 AfterCare — tickets, customers, product units and 三包 warranty.",
    auth=[BearerTokenAuth(), SessionAuth()],
    parser=JsonBodyParser(),
    urls_namespace="api-1.0.0",
)


def error(request: HttpRequest, status: int, code: str, message, details=None) -> HttpResponse:
    body = {"code": code, "message": str(message), "details": details}
    return api.create_response(request, body, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    return error(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    details = [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors
    ]
    return error(request, 422, "validation_error", _("输入有误"), details)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request, exc):
    return error(request, 401, "not_authenticated", _("需要登录或有效的 API 令牌"))


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, DomainError):
        # Ninja wraps what the body parser raises; our own refusal keeps its code.
        return on_domain_error(request, exc.__cause__)
    if exc.status_code == 400:
        return error(request, 400, "malformed_request", _("请求体无法解析"))
    return error(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return error(request, 404, "not_found", _("未找到"))


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc):
    return error(request, 403, "forbidden", _("没有权限执行此操作"))


@api.exception_handler(MultiPartParserError)
def on_bad_multipart(request, exc):
    return error(request, 400, "malformed_request", _("请求体无法解析"))


@api.exception_handler(UnreadablePostError)
def on_unreadable_body(request, exc):
    return error(request, 400, "malformed_request", _("请求体无法解析"))


@api.exception_handler(OverflowError)
def on_number_out_of_range(request, exc):
    # SQLite stores 64-bit integers; a larger id or filter value cannot match anything.
    return error(request, 422, "value_out_of_range", _("数值超出范围"))


@api.exception_handler(Exception)
def on_unexpected(request, exc: Exception):
    logger.exception("unhandled API error", exc_info=exc)
    return error(request, 500, "server_error", _("服务器内部错误，请稍后重试"))


api.add_router("", accounts_router)
api.add_router("", customers_router)
api.add_router("", catalog_router)
api.add_router("", tickets_router)
api.add_router("", attachments_router)
api.add_router("", sla_router)
api.add_router("", intake_router)
api.add_router("", kb_router)
api.add_router("", triage_router)
api.add_router("", collab_router)
