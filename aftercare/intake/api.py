import datetime as dt
import tempfile

from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.security import HttpBearer

from aftercare.accounts import policy
from aftercare.core.api_support import BearerTokenAuth, SessionAuth
from aftercare.core.conf import rule
from aftercare.core.errors import PayloadTooLarge, ValidationFailed
from aftercare.core.http import AuthedRequest

from .choices import InboundSource, InboundStatus
from .inbound import discard_quarantined, raw_limit, receive_email, reprocess_quarantined
from .models import InboundEmail, Mailbox
from .services import mailbox_for_webhook_token

router = Router(tags=["intake"])

# The body is copied to a temporary file; beyond this many times the mail limit the request is
# refused outright instead of being stored in part.
HARD_LIMIT_FACTOR = 4
SPOOL_IN_MEMORY = 1024 * 1024


class MailboxTokenAuth(HttpBearer):
    """A mailbox's own webhook token: it may post mail into that mailbox, nothing else."""

    def authenticate(self, request: HttpRequest, token: str):
        mailbox = mailbox_for_webhook_token(token)
        if mailbox is not None:
            request.intake_mailbox = mailbox  # type: ignore[attr-defined]
        return mailbox


class IntakeResultOut(Schema):
    status: str
    inbound_id: int | None
    message_id: str | None
    ticket: str | None
    reason: str


class InboundOut(Schema):
    id: int
    mailbox: str | None
    source: str
    status: str
    reason: str
    detail: str
    sender: str
    subject: str
    raw_size: int
    raw_truncated: bool
    ticket: str | None
    received_at: dt.datetime

    @staticmethod
    def resolve_mailbox(obj: InboundEmail) -> str | None:
        return obj.mailbox.name if obj.mailbox else None

    @staticmethod
    def resolve_ticket(obj: InboundEmail) -> str | None:
        return obj.ticket.number if obj.ticket else None


def _webhook_mailbox(request: HttpRequest, mailbox_name: str | None) -> Mailbox | None:
    mailbox = getattr(request, "intake_mailbox", None)
    if mailbox is not None:
        return mailbox
    policy.check_mail_admin(request.user)  # type: ignore[arg-type]
    if not mailbox_name:
        return None
    found = Mailbox.objects.filter(name=mailbox_name, is_active=True).first()
    if found is None:
        raise ValidationFailed(
            _("邮箱 %(name)s 不存在或已停用") % {"name": mailbox_name[:50]},
            code="unknown_mailbox",
        )
    return found


@router.post(
    "/intake/email",
    response=IntakeResultOut,
    auth=[MailboxTokenAuth(), BearerTokenAuth()],
    summary="Receive one raw RFC 822 message (for mail servers and forwarding services)",
    openapi_extra={
        "requestBody": {
            "required": True,
            # Sent as message/rfc822 or application/octet-stream; the body is read as bytes.
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def intake_email(request: HttpRequest, mailbox: str | None = None):
    """The raw message is the request body. Authenticate with the mailbox's webhook token, or
    as an admin naming the mailbox in `?mailbox=`. The answer says what became of the mail:
    created, appended, bounce, duplicate (already received; nothing new) or quarantined."""
    target = _webhook_mailbox(request, mailbox)
    limit = target.max_message_bytes if target else rule("MAIL_MAX_BYTES")
    hard_limit = raw_limit(limit) * HARD_LIMIT_FACTOR
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as spool:
        copied = 0
        for chunk in iter(lambda: request.read(1 << 16), b""):
            copied += len(chunk)
            if copied > hard_limit:
                raise PayloadTooLarge(
                    _("邮件超过大小上限"),
                    code="message_too_large",
                    details={"limit_bytes": limit},
                )
            spool.write(chunk)
        if copied == 0:
            raise ValidationFailed(_("请求体为空：需要一封原始邮件"), code="message_empty")
        spool.seek(0)
        result = receive_email(source=spool, via=InboundSource.WEBHOOK, mailbox=target)
    return result.as_dict()


@router.get(
    "/intake/quarantine",
    response=list[InboundOut],
    auth=[BearerTokenAuth(), SessionAuth()],
    summary="Mail waiting in the quarantine, newest first",
)
def quarantine_list(request: AuthedRequest, limit: int = 50):
    policy.check_mail_admin(request.user)
    return list(
        InboundEmail.objects.filter(status=InboundStatus.QUARANTINED)
        .select_related("mailbox", "ticket")
        .order_by("-received_at", "-id")[: max(1, min(limit, 200))]
    )


@router.post(
    "/intake/quarantine/{inbound_id}/reprocess",
    response=IntakeResultOut,
    summary="Run a quarantined mail through the pipeline again",
)
def quarantine_reprocess(request: AuthedRequest, inbound_id: int):
    policy.check_mail_admin(request.user)
    inbound = get_object_or_404(InboundEmail, pk=inbound_id)
    return reprocess_quarantined(inbound=inbound).as_dict()


@router.post(
    "/intake/quarantine/{inbound_id}/discard",
    response=InboundOut,
    summary="Discard a quarantined mail (its raw source stays for the record)",
)
def quarantine_discard(request: AuthedRequest, inbound_id: int):
    policy.check_mail_admin(request.user)
    inbound = get_object_or_404(InboundEmail, pk=inbound_id)
    return discard_quarantined(inbound=inbound, actor=request.user)


@router.get(
    "/intake/inbound/{inbound_id}/raw",
    url_name="inbound_raw",
    summary="The raw source of a received mail",
)
def inbound_raw(request: AuthedRequest, inbound_id: int):
    policy.check_mail_admin(request.user)
    inbound = get_object_or_404(InboundEmail, pk=inbound_id)
    response = FileResponse(
        inbound.raw.open("rb"),
        as_attachment=True,
        filename=f"inbound-{inbound.pk}.eml",
        content_type="message/rfc822",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
