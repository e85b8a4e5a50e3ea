import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

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


class Notice(NamedTuple):
    """One in-app notification to a user the caller already knows to be active."""

    user_id: int
    kind: str
    title: str
    ticket_id: int | None = None


def notify_each(notices: Sequence[Notice]) -> list[int]:
    """Write in-app notifications set-based, without a model instance per row (for callers
    that notify thousands at once, like the SLA sweeper), and queue their email copies after
    commit as one task. Returns the new ids."""
    if not notices:
        return []
    if not connection.features.can_return_rows_from_bulk_insert:
        created = Notification.objects.bulk_create(
            [
                Notification(
                    user_id=n.user_id, kind=n.kind, title=n.title[:200], ticket_id=n.ticket_id
                )
                for n in notices
            ]
        )
        ids = [n.pk for n in created]
    else:
        ids = _insert_notifications(notices, timezone.now())
    transaction.on_commit(lambda: tasks.email_notifications(ids))
    return ids


def _insert_notifications(notices: Sequence[Notice], now) -> list[int]:
    table = connection.ops.quote_name(Notification._meta.db_table)
    created_at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One JSON document for all of them: cheaper to send than a value per parameter.
            cursor.execute(
                f"INSERT INTO {table} (user_id, ticket_id, kind, title, body, created_at)"
                " SELECT n.user_id, n.ticket_id, n.kind, n.title, '', %s"
                " FROM json_to_recordset(%s::json)"
                " AS n(user_id bigint, ticket_id bigint, kind text, title text)"
                " RETURNING id",
                [
                    created_at,
                    json.dumps(
                        [
                            {
                                "user_id": n.user_id,
                                "ticket_id": n.ticket_id,
                                "kind": n.kind,
                                "title": n.title[:200],
                            }
                            for n in notices
                        ]
                    ),
                ],
            )
            return [row[0] for row in cursor.fetchall()]
        ids: list[int] = []
        per_statement = max(1, (connection.features.max_query_params or 1000) // 5)
        for start in range(0, len(notices), per_statement):
            chunk = notices[start : start + per_statement]
            cursor.execute(
                f"INSERT INTO {table} (user_id, ticket_id, kind, title, body, created_at) VALUES "
                + ", ".join(["(%s, %s, %s, %s, '', %s)"] * len(chunk))
                + " RETURNING id",
                [
                    value
                    for n in chunk
                    for value in (n.user_id, n.ticket_id, n.kind, n.title[:200], created_at)
                ],
            )
            ids.extend(row[0] for row in cursor.fetchall())
        return ids
