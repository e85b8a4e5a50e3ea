"""The mail side of intake: every message that reaches AfterCare — fetched over IMAP, posted to
the webhook or imported from a file — goes through `receive_email`, and new requests go on to
`services.submit_request` like those of every other channel.

It either lands on a ticket (a new one, or appended to the one it answers), is recorded as a
bounce of mail we sent, or waits in the quarantine with its reason and raw source. Nothing is
dropped, and the same message received twice creates nothing the second time.
"""

import hashlib
import io
import logging
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import parseaddr
from typing import IO, BinaryIO, cast

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.accounts.models import User
from aftercare.accounts.services import customer_user_for
from aftercare.core.conf import rule
from aftercare.core.errors import Conflict, DomainError, ValidationFailed
from aftercare.customers.models import Contact
from aftercare.customers.services import find_or_create_customer
from aftercare.tickets import services as tickets
from aftercare.tickets.attachments import check_upload
from aftercare.tickets.choices import Channel, LinkKind, MessageVisibility, TicketKind
from aftercare.tickets.models import Message, Ticket

from . import outbox
from .choices import InboundStatus
from .mime import MailParseError, ParsedAttachment, ParsedMail, is_automatic, parse_message
from .models import InboundEmail, Mailbox, MailThreadId
from .replies import strip_reply
from .services import submit_request

log = logging.getLogger(__name__)

SUBJECT_MAX = 200
_HEAD_BYTES = 256 * 1024
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class IntakeResult:
    status: str  # created · appended · bounce · quarantined · duplicate
    inbound_id: int | None
    message_id: str | None
    ticket: str | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _spool(source: bytes | IO[bytes]) -> IO[bytes]:
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source)
    return source


def _size(stream: IO[bytes]) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def _digest(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _head_fields(stream: IO[bytes]) -> tuple[str | None, str, str]:
    """Message-ID, sender and subject read from the header block alone (for mail we refuse)."""
    head = stream.read(_HEAD_BYTES)
    stream.seek(0)
    try:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(head)
        message_id = str(headers.get("Message-ID") or "").strip().strip("<>")[:300]
        sender = parseaddr(str(headers.get("From") or ""))[1].lower()
        subject = str(headers.get("Subject") or "")
    except Exception:  # headers too broken to read: the raw source still says everything
        return None, "", ""
    return message_id or None, sender, subject


def _store_raw(inbound: InboundEmail, stream: IO[bytes], *, limit: int | None = None) -> None:
    if limit is not None:
        stream = io.BytesIO(stream.read(limit))
        inbound.raw_truncated = True
    inbound.raw.save("source.eml", File(stream), save=False)
    stream.seek(0)


def raw_limit(content_limit: int) -> int:
    """The size limit counts content, as the big mail services do: a 25 MB attachment
    travels base64-encoded in lines of 76 characters, about 1.37 times its size, plus
    headers and text."""
    return content_limit * 137 // 100 + _HEAD_BYTES


def _already_received(key: str) -> InboundEmail | None:
    return InboundEmail.objects.filter(message_key=key).first()


def receive_email(
    *, source: bytes | IO[bytes], via: str, mailbox: Mailbox | None = None
) -> IntakeResult:
    """Run one raw RFC 822 message through the pipeline and say what became of it."""
    stream = _spool(source)
    size = _size(stream)
    limit = mailbox.max_message_bytes if mailbox else rule("MAIL_MAX_BYTES")
    digest = _digest(stream)
    if size > raw_limit(limit):
        return _refuse_too_large(stream, size=size, limit=limit, via=via, mailbox=mailbox)
    try:
        parsed = parse_message(cast(BinaryIO, stream), max_bytes=raw_limit(limit))
    except MailParseError as exc:
        stream.seek(0)
        key = _head_fields(stream)[0] or f"sha256:{digest}"
        return _quarantine_new(
            stream,
            key=key,
            via=via,
            mailbox=mailbox,
            size=size,
            reason=exc.reason_code,
            detail=str(exc.message),
        )
    with parsed:  # its spooled attachment files go when the mail has been handled
        return _take(
            parsed,
            stream,
            key=parsed.message_id or f"sha256:{digest}",
            via=via,
            mailbox=mailbox,
            size=size,
        )


def _take(
    parsed: ParsedMail,
    stream: IO[bytes],
    *,
    key: str,
    via: str,
    mailbox: Mailbox | None,
    size: int,
) -> IntakeResult:
    """Store a parsed mail and route it, in one transaction; a failure quarantines it."""
    earlier = _already_received(key)
    if earlier is not None:
        return _duplicate(earlier)
    stream.seek(0)
    inbound = InboundEmail(
        mailbox=mailbox,
        source=via,
        status=InboundStatus.QUARANTINED,
        reason="processing",
        message_key=key[:300],
        sender=(parsed.from_email or "")[:320],
        subject=parsed.subject[:300],
        raw_size=size,
        full_text=parsed.text,
        full_html=parsed.html or "",
    )
    _store_raw(inbound, stream)
    try:
        with transaction.atomic():
            inbound.save()
            return _route(inbound, parsed)
    except IntegrityError:
        # The same message arrived through another path a moment ago.
        inbound.raw.delete(save=False)
        earlier = _already_received(key)
        if earlier is not None:
            return _duplicate(earlier)
        raise
    except Exception as exc:
        # A mail the pipeline cannot take must still not vanish: keep it with the reason.
        log.exception("mail %s could not be processed", key)
        stream.seek(0)
        inbound.pk = None
        inbound._state.adding = True
        reason = getattr(exc, "code", "") or "processing_error"
        return _quarantine_new(
            stream,
            key=key,
            via=via,
            mailbox=mailbox,
            size=size,
            reason=str(reason)[:40],
            detail=f"{type(exc).__name__}: {exc}",
            parsed=parsed,
        )


def _duplicate(earlier: InboundEmail) -> IntakeResult:
    return IntakeResult(
        status="duplicate",
        inbound_id=earlier.pk,
        message_id=_visible_id(earlier.message_key),
        ticket=earlier.ticket.number if earlier.ticket else None,
        reason=earlier.reason,
    )


def _visible_id(key: str | None) -> str | None:
    return None if not key or key.startswith("sha256:") else key


def _quarantine_new(
    stream: IO[bytes],
    *,
    key: str,
    via: str,
    mailbox: Mailbox | None,
    size: int,
    reason: str,
    detail: str,
    parsed: ParsedMail | None = None,
    truncate_at: int | None = None,
) -> IntakeResult:
    earlier = _already_received(key)
    if earlier is not None:
        return _duplicate(earlier)
    _message_id, sender, subject = _head_fields(stream)
    inbound = InboundEmail(
        mailbox=mailbox,
        source=via,
        status=InboundStatus.QUARANTINED,
        reason=reason,
        detail=detail[:5000],
        message_key=key[:300],
        sender=((parsed.from_email or "") if parsed else sender)[:320],
        subject=(parsed.subject if parsed else subject)[:300],
        raw_size=size,
        full_text=parsed.text if parsed else "",
        processed_at=timezone.now(),
    )
    _store_raw(inbound, stream, limit=truncate_at)
    try:
        inbound.save()
    except IntegrityError:
        inbound.raw.delete(save=False)
        earlier = _already_received(key)
        assert earlier is not None
        return _duplicate(earlier)
    return IntakeResult(
        status="quarantined",
        inbound_id=inbound.pk,
        message_id=_visible_id(key),
        reason=reason,
    )


def _refuse_too_large(
    stream: IO[bytes], *, size: int, limit: int, via: str, mailbox: Mailbox | None
) -> IntakeResult:
    message_id, sender, subject = _head_fields(stream)
    key = message_id or f"sha256:{_digest(stream)}"
    with transaction.atomic():
        result = _quarantine_new(
            stream,
            key=key,
            via=via,
            mailbox=mailbox,
            size=size,
            reason="too_large",
            detail=_("邮件大小 %(size)d 字节，超过上限 %(limit)d 字节；只保存了开头部分。")
            % {"size": size, "limit": limit},
            truncate_at=_HEAD_BYTES,
        )
        if result.status == "quarantined" and sender:
            outbox.queue_email(
                ticket=None,
                to=[sender],
                subject=_("邮件未能受理：%(subject)s") % {"subject": subject[:150]},
                body_text=_(
                    "您好：\n\n您发送的邮件（%(size)s MB）超过了我们能接收的大小上限 "
                    "%(limit)s MB，未能受理。请把大附件压缩或改用网盘链接后重新发送，"
                    "或在客户门户中提交服务请求。\n\n售后服务中心"
                )
                % {"size": round(size / 1048576, 1), "limit": round(limit / 1048576, 1)},
                purpose="too_large_notice",
                is_automatic=True,
            )
    return result


# --- routing ------------------------------------------------------------------------------


def _route(inbound: InboundEmail, parsed: ParsedMail) -> IntakeResult:
    if parsed.bounce is not None:
        return _route_bounce(inbound, parsed)
    automatic = is_automatic(parsed)
    staff = _staff_sender(parsed.from_email or "")
    ticket = _thread_target(parsed)
    if ticket is None:
        return _open_from_mail(inbound, parsed, earlier=None, automatic=automatic)
    if not _takes_part(ticket, parsed.from_email or "", staff, inbound.mailbox):
        return _open_from_mail(
            inbound, parsed, earlier=(ticket, "sender_not_participant"), automatic=automatic
        )
    appended = _append(inbound, parsed, ticket, staff=staff, automatic=automatic)
    if appended is not None:
        return appended
    return _open_from_mail(
        inbound, parsed, earlier=(ticket, "earlier_ticket_closed"), automatic=automatic
    )


def _route_bounce(inbound: InboundEmail, parsed: ParsedMail) -> IntakeResult:
    bounce = parsed.bounce
    assert bounce is not None
    original = (bounce.original_message_id or "").strip("<> ")
    thread = MailThreadId.objects.select_related("ticket").filter(message_id=original).first()
    if thread is None:
        ids = [*parsed.in_reply_to, *parsed.references]
        thread = (
            MailThreadId.objects.select_related("ticket").filter(message_id__in=ids).first()
            if ids
            else None
        )
    if thread is None:
        return _mark_quarantined(inbound, "bounce_unmatched", _("退信找不到对应的工单"))
    ticket = _surviving(thread.ticket)
    outbox.record_bounce(
        ticket=ticket,
        original_message_id=original or thread.message_id,
        recipients=bounce.failed_recipients,
        diagnostic=bounce.diagnostic or bounce.status or "",
    )
    return _finish(inbound, InboundStatus.BOUNCE, ticket=ticket)


def _mark_quarantined(inbound: InboundEmail, reason: str, detail: str) -> IntakeResult:
    inbound.status = InboundStatus.QUARANTINED
    inbound.reason = reason
    inbound.detail = detail
    inbound.processed_at = timezone.now()
    inbound.save()
    return IntakeResult(
        status="quarantined",
        inbound_id=inbound.pk,
        message_id=_visible_id(inbound.message_key),
        reason=reason,
    )


def _finish(
    inbound: InboundEmail,
    status: str,
    *,
    ticket: Ticket,
    message: Message | None = None,
    reason: str = "",
) -> IntakeResult:
    inbound.status = status
    inbound.reason = reason
    inbound.ticket = ticket
    inbound.message = message
    inbound.processed_at = timezone.now()
    inbound.save(
        update_fields=["status", "reason", "ticket", "message", "participants", "processed_at"]
    )
    visible = _visible_id(inbound.message_key)
    if visible and status != InboundStatus.BOUNCE:
        MailThreadId.objects.bulk_create(
            [MailThreadId(message_id=visible, ticket=ticket)], ignore_conflicts=True
        )
    return IntakeResult(
        status=status,
        inbound_id=inbound.pk,
        message_id=visible,
        ticket=ticket.number,
        reason=reason,
    )


def _surviving(ticket: Ticket) -> Ticket:
    seen = set()
    while ticket.merged_into_id and ticket.pk not in seen:
        seen.add(ticket.pk)
        ticket = Ticket.objects.get(pk=ticket.merged_into_id)
    return ticket


def _ticket_number_pattern() -> re.Pattern:
    prefix = re.escape(str(settings.AFTERCARE["TICKET_NUMBER_PREFIX"]))
    return re.compile(rf"\b({prefix}-\d{{4}}-\d{{6,}})\b")


def _thread_target(parsed: ParsedMail) -> Ticket | None:
    """The ticket this mail answers: by In-Reply-To/References first, then by the ticket
    number in the subject."""
    ids = [*parsed.in_reply_to, *reversed(parsed.references)]
    if ids:
        found = {
            t.message_id: t.ticket
            for t in MailThreadId.objects.select_related("ticket").filter(message_id__in=ids)
        }
        for message_id in ids:
            if message_id in found:
                return _surviving(found[message_id])
    match = _ticket_number_pattern().search(parsed.subject or "")
    if match:
        ticket = Ticket.objects.filter(number=match.group(1)).first()
        if ticket is not None:
            return _surviving(ticket)
    return None


def _staff_sender(address: str) -> User | None:
    if not address:
        return None
    for user in User.objects.filter(email__iexact=address, is_active=True).order_by("pk"):
        if user.is_working_staff:
            return user
    return None


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _takes_part(ticket: Ticket, address: str, staff: User | None, mailbox: Mailbox | None) -> bool:
    """Whether the sender may add to this ticket by mail: its customer's contacts, people who
    were on earlier mail of the ticket, staff who work it, and — when the mailbox allows it —
    anyone from the customer organisation's mail domain. Anyone else could be spoofing a
    ticket number to read along ("Ticket Trick")."""
    from aftercare.accounts import policy

    if not address:
        return False
    if staff is not None:
        return policy.can_work_ticket(staff, ticket)
    if Contact.objects.filter(customer_id=ticket.customer_id, email__iexact=address).exists():
        return True
    own = {a.lower() for a in Mailbox.objects.values_list("address", flat=True)}
    for participants in InboundEmail.objects.filter(ticket=ticket).values_list(
        "participants", flat=True
    ):
        if address in {p for p in participants or [] if p not in own}:
            return True
    if mailbox is not None and mailbox.allow_organisation_followups:
        customer = ticket.customer
        domains = {customer.email_domain.lower()} - {""}
        if customer.organisation is not None:
            domains |= {customer.organisation.email_domain.lower()} - {""}
        return _domain(address) in domains
    return False


def _participants(parsed: ParsedMail) -> list[str]:
    people = [parsed.from_email, *(e for _n, e in parsed.to), *(e for _n, e in parsed.cc)]
    return sorted({p.lower() for p in people if p})


def _uploads(parsed: ParsedMail) -> tuple[list[UploadedFile], list[dict]]:
    """Attachments the upload policy accepts, and a note for each it refuses (those stay in
    the raw source, one click away)."""
    accepted, refused = [], []
    limit = rule("MAIL_MAX_BYTES")
    for attachment in parsed.attachments:
        upload = _as_upload(attachment)
        try:
            check_upload(upload.name or "", upload.file, attachment.size, limit=limit)
        except DomainError as exc:
            refused.append({"name": attachment.filename, "reason": exc.code})
            continue
        accepted.append(upload)
    return accepted, refused


def _as_upload(attachment: ParsedAttachment) -> UploadedFile:
    attachment.file.seek(0)
    return UploadedFile(
        file=attachment.file,
        name=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
    )


def _refused_note(refused: list[dict]) -> str:
    if not refused:
        return ""
    names = "、".join(r["name"] for r in refused)
    return "\n\n" + _("（未保存的附件：%(names)s；可在原始邮件中查看）") % {"names": names}


def _append(
    inbound: InboundEmail,
    parsed: ParsedMail,
    ticket: Ticket,
    *,
    staff: User | None,
    automatic: str | None,
) -> IntakeResult | None:
    """Add the mail to the ticket it answers; None when the ticket takes no more mail from
    this sender (closed, or past its reopen window), so a new linked ticket is opened."""
    inbound.participants = _participants(parsed)
    uploads, refused = _uploads(parsed)
    text = strip_reply(parsed.text, html=parsed.html, sender=parsed.from_email).strip()
    text = (text or parsed.text.strip() or _("（无正文）")) + _refused_note(refused)
    if automatic or staff is not None:
        # Auto-replies never move a ticket or stop a clock; staff mail becomes an internal
        # note so a colleague's answer to a notification is not sent on to the customer.
        actor = staff
        visibility = MessageVisibility.INTERNAL
    else:
        match = find_or_create_customer(
            name=(parsed.from_name or parsed.from_email or "")[:200], email=parsed.from_email
        )
        actor = customer_user_for(match.contact)
        visibility = MessageVisibility.PUBLIC
    try:
        message = tickets.add_message(
            actor=actor,
            ticket=ticket,
            text=text,
            visibility=visibility,
            channel=Channel.EMAIL,
            is_automatic=bool(automatic),
            attachments=uploads,
            attachment_max_bytes=rule("MAIL_MAX_BYTES"),
        )
    except Conflict as exc:
        if exc.code in {"ticket_closed", "reopen_window_passed", "ticket_merged"}:
            return None
        raise
    return _finish(inbound, InboundStatus.APPENDED, ticket=ticket, message=message)


def _written_language(text: str) -> str:
    """zh-hans, zh-hant (traditional characters) or en."""
    sample = "".join(_CJK.findall(text[:4000]))
    if not sample:
        return "en"
    import zhconv

    changed = sum(a != b for a, b in zip(sample, zhconv.convert(sample, "zh-hans"), strict=False))
    return "zh-hant" if changed * 10 >= len(sample) else "zh-hans"


def _open_from_mail(
    inbound: InboundEmail,
    parsed: ParsedMail,
    *,
    earlier: tuple[Ticket, str] | None,
    automatic: str | None,
) -> IntakeResult:
    try:
        match = find_or_create_customer(
            name=(parsed.from_name or (parsed.from_email or "").partition("@")[0])[:200],
            email=parsed.from_email,
        )
    except ValidationFailed as exc:
        return _mark_quarantined(inbound, "sender_invalid", str(exc))
    inbound.participants = _participants(parsed)
    customer_user = customer_user_for(match.contact)
    if not customer_user.language:
        # Acknowledgements and replies go out in the language the customer wrote in.
        customer_user.language = _written_language(f"{parsed.subject}\n{parsed.text}")
        customer_user.save(update_fields=["language"])
    uploads, refused = _uploads(parsed)
    mailbox = inbound.mailbox
    ticket = submit_request(
        actor=customer_user,
        channel=Channel.EMAIL,
        kind=TicketKind.INQUIRY,
        subject=(parsed.subject or _("（无主题）"))[:SUBJECT_MAX],
        description=(parsed.text.strip() or _("（无正文）")) + _refused_note(refused),
        customer=match.customer,
        contact=match.contact,
        team=mailbox.team if mailbox and mailbox.team and mailbox.team.is_active else None,
        acknowledge=not automatic,
    )
    for upload in uploads:
        tickets.add_attachment(
            actor=customer_user,
            ticket=ticket,
            upload=upload,
            attachment_max_bytes=rule("MAIL_MAX_BYTES"),
        )
    reason = ""
    if earlier is not None:
        # A mail about a ticket that cannot take it: never appended silently — a new ticket,
        # linked to the earlier one.
        earlier_ticket, reason = earlier
        tickets.link_tickets(
            actor=None, source=ticket, target=earlier_ticket, kind=LinkKind.RELATED
        )
    if automatic:
        reason = reason or f"automatic:{automatic}"
    return _finish(inbound, InboundStatus.CREATED, ticket=ticket, reason=reason)


# --- quarantine ---------------------------------------------------------------------------


def reprocess_quarantined(*, inbound: InboundEmail) -> IntakeResult:
    """Run a quarantined mail through the pipeline again (after a fix or a rule change)."""
    if inbound.status != InboundStatus.QUARANTINED:
        raise Conflict(_("只有隔离中的邮件可以重新处理"), code="not_quarantined")
    if inbound.raw_truncated:
        raise Conflict(_("该邮件只保存了开头部分，不能重新处理"), code="raw_truncated")
    storage, old_name = inbound.raw.storage, inbound.raw.name
    with inbound.raw.open("rb") as raw, tempfile.SpooledTemporaryFile(8 << 20) as copy:
        shutil.copyfileobj(raw, copy)
        copy.seek(0)
        with transaction.atomic():
            # The old row goes in the same transaction the new outcome is written in; its
            # raw file only once that has committed, so a failure leaves it as it was.
            inbound.delete()
            result = receive_email(source=copy, via=inbound.source, mailbox=inbound.mailbox)
            if old_name:
                transaction.on_commit(lambda: storage.delete(old_name))
    return result


@transaction.atomic
def discard_quarantined(*, inbound: InboundEmail, actor: User) -> InboundEmail:
    if inbound.status != InboundStatus.QUARANTINED:
        raise Conflict(_("只有隔离中的邮件可以丢弃"), code="not_quarantined")
    inbound.status = InboundStatus.DISCARDED
    inbound.detail = (inbound.detail + "\n" + _("由 %(user)s 丢弃") % {"user": actor}).strip()
    inbound.processed_at = timezone.now()
    inbound.save(update_fields=["status", "detail", "processed_at"])
    return inbound
