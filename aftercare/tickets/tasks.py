"""Background jobs of the tickets app. They take ids and are safe to run twice: each claims
its work with a conditional update before sending anything."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from .choices import EventKind


def customer_language(ticket) -> str:
    """The language to write to the customer in: the one of the customer who opened the
    ticket when known (a mail written in English is answered in English), else the default."""
    opener = ticket.created_by
    if opener is not None and opener.is_customer and opener.language:
        return opener.language
    return settings.LANGUAGE_CODE


@db_task(retries=3, retry_delay=30)
def send_acknowledgement(ticket_id: int) -> bool:
    from aftercare.intake.outbox import queue_email

    from .models import Ticket, TicketEvent

    with transaction.atomic():
        claimed = Ticket.objects.filter(pk=ticket_id, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now()
        )
        if not claimed:
            return False
        ticket = Ticket.objects.select_related("contact", "customer", "created_by").get(
            pk=ticket_id
        )
        recipient = ticket.contact.email if ticket.contact else None
        TicketEvent.objects.create(
            ticket=ticket,
            kind=EventKind.ACKNOWLEDGED,
            data={"email": recipient or "", "sent": bool(recipient)},
        )
        if recipient:
            with translation.override(customer_language(ticket)):
                queue_email(
                    ticket=ticket,
                    to=[recipient],
                    subject=_("[%(number)s] 我们已收到您的服务请求：%(subject)s")
                    % {"number": ticket.number, "subject": ticket.subject},
                    body_text=_(
                        "您好，%(name)s：\n\n我们已收到您的服务请求，工单号 %(number)s。"
                        "服务人员会尽快与您联系。回复本邮件即可补充信息。\n\n售后服务中心"
                    )
                    % {"name": ticket.customer.name, "number": ticket.number},
                    purpose="acknowledgement",
                    is_automatic=True,
                )
    return True


@db_task(retries=3, retry_delay=30)
def notify_customer_of_reply(message_id: int) -> bool:
    from aftercare.intake.outbox import queue_email

    from .models import Message

    with transaction.atomic():
        claimed = Message.objects.filter(pk=message_id, notified_at__isnull=True).update(
            notified_at=timezone.now()
        )
        if not claimed:
            return False
        message = Message.objects.select_related(
            "ticket__contact", "ticket__created_by", "author"
        ).get(pk=message_id)
        contact = message.ticket.contact
        if contact and contact.email:
            with translation.override(customer_language(message.ticket)):
                queue_email(
                    ticket=message.ticket,
                    to=[contact.email],
                    subject=_("[%(number)s] 您的服务请求有新回复")
                    % {"number": message.ticket.number},
                    body_text=message.body_text,
                    purpose="reply",
                    is_automatic=False,
                    created_by=message.author,
                )
    return True
