"""Outgoing mail: written to the outbox in the transaction that causes it, delivered by a task.

Every mail about a ticket carries a Message-ID that is remembered for threading, In-Reply-To and
References pointing at the conversation so far, and a Reply-To that brings answers back to the
ticket's mailbox. Automatic mail is marked `Auto-Submitted: auto-replied` and capped per ticket
and in all, so two auto-responders can never mail each other forever.
"""

import datetime as dt
import logging
import uuid
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from aftercare.core.conf import rule
from aftercare.tickets.choices import EventKind
from aftercare.tickets.models import Ticket
from aftercare.tickets.services import record_event

from .choices import InboundStatus, MailSecurity, OutboundStatus
from .models import InboundEmail, Mailbox, MailThreadId, OutboundEmail

log = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send; the mail is tried again.
STALE_CLAIM = dt.timedelta(minutes=10)
MAX_REFERENCES = 20


def mailbox_for(ticket: Ticket | None) -> Mailbox | None:
    """The mailbox a ticket's mail goes out from: the one its mail came in through, else its
    team's, else the first active one."""
    active = Mailbox.objects.filter(is_active=True)
    if ticket is not None:
        came_in = (
            InboundEmail.objects.filter(ticket=ticket, mailbox__is_active=True)
            .order_by("received_at")
            .values_list("mailbox_id", flat=True)
            .first()
        )
        if came_in:
            return active.get(pk=came_in)
        if ticket.team_id:
            team_box = active.filter(team_id=ticket.team_id).order_by("pk").first()
            if team_box:
                return team_box
    return active.order_by("pk").first()


def _new_message_id(mailbox: Mailbox | None, ticket: Ticket | None) -> str:
    address = mailbox.address if mailbox else parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rpartition("@")[2] or "aftercare.local"
    prefix = f"{ticket.number}." if ticket else ""
    return f"{prefix}{uuid.uuid4().hex}@{domain}"


def _thread_headers(ticket: Ticket) -> tuple[str, list[str]]:
    """In-Reply-To (the newest mail received on the ticket) and References (the thread, oldest
    first, the first id kept when the list is cut)."""
    ids = list(
        MailThreadId.objects.filter(ticket=ticket)
        .order_by("created_at", "pk")
        .values_list("message_id", flat=True)
    )
    latest_inbound = (
        InboundEmail.objects.filter(ticket=ticket, message_key__isnull=False)
        .exclude(message_key__startswith="sha256:")
        .order_by("-received_at", "-pk")
        .values_list("message_key", flat=True)
        .first()
    )
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return latest_inbound or (ids[-1] if ids else ""), ids


def _own_addresses() -> set[str]:
    own = {a.lower() for a in Mailbox.objects.values_list("address", flat=True)}
    own.add(parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower())
    return own


def _over_automatic_cap(ticket: Ticket | None, now: dt.datetime) -> str | None:
    since = now - dt.timedelta(minutes=rule("MAIL_AUTO_WINDOW_MINUTES"))
    recent = OutboundEmail.objects.filter(
        is_automatic=True, created_at__gte=since, capped=True
    ).exclude(status=OutboundStatus.SUPPRESSED)
    if ticket is not None and recent.filter(ticket=ticket).count() >= rule("MAIL_AUTO_PER_TICKET"):
        return "ticket_cap"
    if recent.count() >= rule("MAIL_AUTO_GLOBAL"):
        return "global_cap"
    return None


@transaction.atomic
def queue_email(
    *,
    ticket: Ticket | None,
    to: list[str],
    subject: str,
    body_text: str,
    purpose: str,
    is_automatic: bool,
    cc: list[str] | None = None,
    created_by=None,
    capped: bool = True,
) -> OutboundEmail:
    """Put a mail in the outbox; it is delivered after the surrounding transaction commits.

    Automatic mail (acknowledgements, notifications) is suppressed — kept in the outbox with
    status "suppressed" and a timeline entry — when it would go to one of our own mailboxes or
    pass the per-ticket or global cap. `capped=False` is for notifications to our own staff:
    what they send back automatically is never answered automatically, so no loop can form,
    and an escalation must not be swallowed by a cap.
    """
    now = timezone.now()
    mailbox = mailbox_for(ticket)
    message_id = _new_message_id(mailbox, ticket)
    in_reply_to, references = _thread_headers(ticket) if ticket else ("", [])
    recipients = [a.strip() for a in to if a and a.strip()]
    suppressed = None
    if is_automatic:
        if any(parseaddr(a)[1].lower() in _own_addresses() for a in recipients):
            suppressed = "own_mailbox"
        elif capped:
            suppressed = _over_automatic_cap(ticket, now)
    outbound = OutboundEmail.objects.create(
        mailbox=mailbox,
        ticket=ticket,
        purpose=purpose,
        is_automatic=is_automatic,
        capped=capped,
        to=recipients,
        cc=cc or [],
        subject=subject[:300],
        body_text=body_text,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=" ".join(f"<{i}>" for i in references),
        status=OutboundStatus.SUPPRESSED if suppressed else OutboundStatus.QUEUED,
        last_error=suppressed or "",
        created_at=now,
        next_attempt_at=now,
        created_by=created_by,
    )
    if ticket is not None:
        MailThreadId.objects.create(message_id=message_id, ticket=ticket, created_at=now)
        if suppressed:
            record_event(
                ticket,
                None,
                EventKind.EMAIL_SUPPRESSED,
                at=now,
                is_internal=True,
                data={"outbound_id": outbound.pk, "purpose": purpose, "reason": suppressed},
            )
    if not suppressed:
        from . import tasks

        transaction.on_commit(lambda: tasks.deliver_email(outbound.pk))
    return outbound


def _connection(mailbox: Mailbox | None):
    if mailbox is None or not mailbox.smtp_host:
        return get_connection()
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        username=mailbox.smtp_username or None,
        password=mailbox.smtp_password or None,
        use_ssl=mailbox.smtp_security == MailSecurity.SSL,
        use_tls=mailbox.smtp_security == MailSecurity.STARTTLS,
        timeout=30,
    )


def retry_delay(attempts: int) -> dt.timedelta:
    """1, 2, 4 … minutes after each failed attempt, at most an hour."""
    return dt.timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def _message(outbound: OutboundEmail) -> EmailMessage:
    mailbox = outbound.mailbox
    headers = {"Message-ID": f"<{outbound.message_id}>"}
    if outbound.in_reply_to:
        headers["In-Reply-To"] = f"<{outbound.in_reply_to}>"
    if outbound.references:
        headers["References"] = outbound.references
    if outbound.is_automatic:
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Auto-Response-Suppress"] = "All"
    if mailbox is not None:
        headers["Reply-To"] = mailbox.from_header
    return EmailMessage(
        subject=outbound.subject,
        body=outbound.body_text,
        from_email=mailbox.from_header if mailbox else settings.DEFAULT_FROM_EMAIL,
        to=outbound.to,
        cc=outbound.cc,
        headers=headers,
        connection=_connection(mailbox),
    )


def deliver(outbound_id: int) -> bool:
    """Send one queued mail if it is due. Claims it first so two workers never both send it;
    a failure puts it back in the queue with a growing delay, then marks it failed."""
    now = timezone.now()
    claimed = OutboundEmail.objects.filter(
        pk=outbound_id, status=OutboundStatus.QUEUED, next_attempt_at__lte=now
    ).update(status=OutboundStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return False
    outbound = OutboundEmail.objects.select_related("mailbox").get(pk=outbound_id)
    try:
        _message(outbound).send(fail_silently=False)
    except Exception as exc:  # any transport error: the mail stays in the outbox
        failed = outbound.attempts >= rule("MAIL_SEND_MAX_ATTEMPTS")
        OutboundEmail.objects.filter(pk=outbound_id).update(
            status=OutboundStatus.FAILED if failed else OutboundStatus.QUEUED,
            next_attempt_at=timezone.now() + retry_delay(outbound.attempts),
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            claimed_at=None,
        )
        log.warning("mail %s not sent (attempt %s): %s", outbound_id, outbound.attempts, exc)
        return False
    OutboundEmail.objects.filter(pk=outbound_id).update(
        status=OutboundStatus.SENT, sent_at=timezone.now(), last_error="", claimed_at=None
    )
    return True


def due_outbound_ids(limit: int = 200) -> list[int]:
    """Queued mail whose time has come, after returning stale claims to the queue."""
    now = timezone.now()
    OutboundEmail.objects.filter(
        status=OutboundStatus.SENDING, claimed_at__lt=now - STALE_CLAIM
    ).update(status=OutboundStatus.QUEUED, claimed_at=None)
    return list(
        OutboundEmail.objects.filter(status=OutboundStatus.QUEUED, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def record_bounce(*, ticket: Ticket, original_message_id: str, recipients, diagnostic: str):
    """A delivery status report about mail we sent: kept on the ticket it belongs to."""
    OutboundEmail.objects.filter(message_id=original_message_id).update(
        last_error=(f"bounced: {diagnostic}")[:2000]
    )
    return record_event(
        ticket,
        None,
        EventKind.EMAIL_BOUNCED,
        is_internal=True,
        data={
            "message_id": original_message_id,
            "recipients": list(recipients),
            "diagnostic": diagnostic[:500],
            "status": InboundStatus.BOUNCE,
        },
    )
