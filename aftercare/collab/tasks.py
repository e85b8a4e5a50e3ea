from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=30)
def email_notifications(notification_ids: list[int]) -> int:
    """Email each notification once: the row is claimed by a conditional update first."""
    from .models import Notification

    sent = 0
    for notification_id in notification_ids:
        with transaction.atomic():
            claimed = Notification.objects.filter(
                pk=notification_id, emailed_at__isnull=True
            ).update(emailed_at=timezone.now())
            if not claimed:
                continue
            notification = Notification.objects.select_related("user").get(pk=notification_id)
            if notification.user.email:
                send_mail(
                    notification.title,
                    notification.body or notification.title,
                    None,
                    [notification.user.email],
                )
                sent += 1
    return sent
