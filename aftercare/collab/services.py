from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from aftercare.accounts.models import User

from . import tasks
from .models import Notification


@dataclass
class Message:
    users: Sequence[User]
    kind: str
    title: str
    body: str = ""
    ticket: Any = None


def notify_many(messages: Iterable[Message]) -> list[Notification]:
    """In-app notifications for every recipient of every message, written in one statement;
    their email copies are queued after commit as one task."""
    rows = []
    for message in messages:
        for user in {u.pk: u for u in message.users if u is not None and u.is_active}.values():
            rows.append(
                Notification(
                    user=user,
                    kind=message.kind,
                    title=message.title[:200],
                    body=message.body,
                    ticket=message.ticket,
                )
            )
    created = Notification.objects.bulk_create(rows, batch_size=1000)
    ids = [n.pk for n in created if n.pk is not None]
    if ids:
        transaction.on_commit(lambda: tasks.email_notifications(ids))
    return created


def notify(
    *, users: Sequence[User], kind: str, title: str, body: str = "", ticket=None
) -> list[Notification]:
    return notify_many([Message(users=users, kind=kind, title=title, body=body, ticket=ticket)])
