from django.db import transaction
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=3, retry_delay=30)
def email_notifications(notification_ids: list[int]) -> int:
    """Email each notification once: the row is claimed by a conditional update first."""
    from aftercare.intake.outbox import queue_email

    from .models import Notification

    sent = 0
    for notification_id in notification_ids:
        with transaction.atomic():
            claimed = Notification.objects.filter(
                pk=notification_id, emailed_at__isnull=True
            ).update(emailed_at=timezone.now())
            if not claimed:
                continue
            notification = Notification.objects.select_related("user", "ticket").get(
                pk=notification_id
            )
            if notification.user.email:
                # Through the outbox: threaded under the ticket's mail, retried while SMTP
                # is down, marked as automatic so nobody's auto-responder answers it.
                queue_email(
                    ticket=notification.ticket,
                    to=[notification.user.email],
                    subject=notification.title,
                    body_text=notification.body or notification.title,
                    purpose="notification",
                    is_automatic=True,
                    capped=False,
                )
                sent += 1
    return sent


@db_periodic_task(crontab(minute="*"))
def mark_overdue_collaboration_requests() -> int:
    """Requests past their due time are marked overdue, and those near it warned, once each
    (overdue first: a request found past due is not warned as well); safe to run in parallel
    and twice."""
    from .requests import mark_overdue_requests, warn_due_requests

    overdue = mark_overdue_requests()
    return overdue + warn_due_requests()
