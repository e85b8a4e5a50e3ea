"""Mail jobs: delivering the outbox and polling mailboxes. They take ids and are safe to run
twice — delivery claims each mail before sending, and a message fetched twice is recognised by
its Message-ID."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from . import outbox


@db_task()
def deliver_email(outbound_id: int) -> bool:
    return outbox.deliver(outbound_id)


@db_periodic_task(crontab(minute="*"))
def deliver_due_email() -> int:
    """Retries after an SMTP failure, and mail whose worker died before sending it."""
    return sum(outbox.deliver(pk) for pk in outbox.due_outbound_ids())


@db_periodic_task(crontab(minute="*"))
def poll_mailboxes() -> int:
    from .imap import poll_mailbox
    from .models import Mailbox

    fetched = 0
    for mailbox in Mailbox.objects.filter(is_active=True).exclude(imap_host=""):
        fetched += poll_mailbox(mailbox).fetched
    return fetched
