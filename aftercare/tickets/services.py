"""Every write to a ticket. Each function runs in one transaction and writes its timeline
events in it; mail and other side effects are queued with transaction.on_commit."""

import datetime as dt
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.accounts.models import Team, User
from aftercare.assist import hooks as triage
from aftercare.catalog.models import ProductUnit
from aftercare.core.errors import Conflict, ValidationFailed
from aftercare.customers.models import Contact, Customer
from aftercare.sla import engine as sla

from . import tasks
from .attachments import check_upload
from .choices import OPEN_STATUSES, EventKind, LinkKind, MessageVisibility, Priority, Status
from .content import clean_body
from .custom_fields import validate_custom_fields
from .models import (
    Attachment,
    Message,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketSearchDocument,
)
from .numbering import next_ticket_number
from .search import document_tokens
from .workflow import check_transition, is_reopen

# Wall-clock response targets per tier until the SLA engine computes them on calendars.
DEFAULT_TARGET_HOURS = {Priority.URGENT: 2, Priority.REGULAR: 12, Priority.COMPLEX: 48}
# Changes of these fields are shown to the service side only.
INTERNAL_FIELDS = frozenset({"priority", "team", "assignee", "tags", "custom_fields"})
UPDATABLE_FIELDS = (
    "kind",
    "subject",
    "description",
    "priority",
    "team",
    "assignee",
    "tags",
    "custom_fields",
    "product_unit",
    "contact",
)


def _value(value: Any) -> Any:
    """A JSON-safe picture of a field value for the timeline."""
    if isinstance(value, Model):
        return {"id": value.pk, "label": str(value)}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def record_event(
    ticket: Ticket,
    actor: User | None,
    kind: str,
    *,
    field: str = "",
    before: Any = None,
    after: Any = None,
    data: dict | None = None,
    is_internal: bool = False,
    at: dt.datetime | None = None,
) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        actor=actor,
        kind=kind,
        field=field,
        before=_value(before),
        after=_value(after),
        data=data or {},
        is_internal=is_internal,
        created_at=at or timezone.now(),
    )


def _search_texts(ticket: Ticket) -> list[str]:
    texts = [ticket.number, ticket.subject, ticket.description, ticket.customer.name]
    if ticket.product_unit is not None:
        texts.append(ticket.product_unit.serial)
    return texts


def refresh_search_document(ticket: Ticket) -> None:
    texts = _search_texts(ticket)
    texts.extend(ticket.messages.order_by("-created_at").values_list("body_text", flat=True)[:50])
    TicketSearchDocument.objects.update_or_create(
        ticket=ticket, defaults={"tokens": " ".join(document_tokens(*texts))}
    )


def default_due_at(priority: str, start: dt.datetime) -> dt.datetime:
    return start + dt.timedelta(hours=DEFAULT_TARGET_HOURS[Priority(priority)])


def _check_refs(
    *,
    customer: Customer,
    contact: Contact | None,
    product_unit: ProductUnit | None,
    assignee: User | None,
    team: Team | None,
) -> None:
    if contact is not None and contact.customer_id != customer.pk:
        raise ValidationFailed(_("联系人不属于该客户"), code="contact_not_of_customer")
    if product_unit is not None and product_unit.owner_id not in (None, customer.pk):
        raise ValidationFailed(_("该机器登记在其他客户名下"), code="unit_not_of_customer")
    if assignee is not None and not assignee.is_working_staff:
        raise ValidationFailed(_("处理人必须是服务人员"), code="assignee_not_staff")
    if team is not None and not team.is_active:
        raise ValidationFailed(_("团队已停用"), code="team_inactive")


@transaction.atomic
def open_ticket(
    *,
    actor: User | None,
    kind: str,
    channel: str,
    subject: str,
    description: str = "",
    customer: Customer,
    contact: Contact | None = None,
    product_unit: ProductUnit | None = None,
    priority: str = Priority.REGULAR,
    team: Team | None = None,
    assignee: User | None = None,
    tags: list[str] | None = None,
    custom_fields: dict | None = None,
    created_at: dt.datetime | None = None,
    acknowledge: bool = True,
) -> Ticket:
    """Open a ticket with its SLA clocks; the customer gets an acknowledgement unless told
    otherwise (never for automatic mail, which must not be answered automatically)."""
    _check_refs(
        customer=customer, contact=contact, product_unit=product_unit, assignee=assignee, team=team
    )
    now = created_at or timezone.now()
    fields = validate_custom_fields(
        kind,
        custom_fields or {},
        is_staff=bool(actor and not actor.is_customer),
        check_required=True,
    )
    ticket = Ticket(
        number=next_ticket_number(timezone.localtime(now).year),
        kind=kind,
        channel=channel,
        subject=subject.strip(),
        description=description,
        customer=customer,
        contact=contact,
        product_unit=product_unit,
        priority=priority,
        team=team,
        assignee=assignee,
        tags=_clean_tags(tags or []),
        custom_fields=fields,
        due_at=default_due_at(priority, now),
        created_by=actor,
        created_at=now,
        updated_at=now,
        status=Status.OPEN if assignee else Status.NEW,
    )
    # The SLA clocks are planned first so that the ticket's due time goes in with its insert.
    plan = sla.plan_clocks(ticket, now)
    ticket.due_at = plan.due_at or ticket.due_at
    ticket.save(force_insert=True)
    created = TicketEvent(
        ticket=ticket,
        actor=actor,
        kind=EventKind.CREATED,
        created_at=now,
        after={"status": ticket.status, "kind": kind, "channel": channel},
        data={"priority": priority, "team": _value(team), "assignee": _value(assignee)},
    )
    TicketEvent.objects.bulk_create([created, plan.event(ticket, now)])
    plan.save(ticket)
    # A new ticket has no messages yet: insert its document without reading anything back.
    TicketSearchDocument.objects.create(
        ticket=ticket, tokens=" ".join(document_tokens(*_search_texts(ticket)))
    )
    if acknowledge:
        transaction.on_commit(lambda: tasks.send_acknowledgement(ticket.pk))
    triage.queue_ticket_triage(ticket.pk)
    return ticket


def _clean_tags(tags: list[str]) -> list[str]:
    cleaned = []
    for tag in tags:
        tag = str(tag).strip()[:50]
        if tag and tag not in cleaned:
            cleaned.append(tag)
    return cleaned[:30]


def _merged_number(ticket: Ticket) -> str:
    return ticket.merged_into.number if ticket.merged_into else ""


def _locked(ticket: Ticket) -> Ticket:
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", "team", "assignee", "merged_into")
        .get(pk=ticket.pk)
    )


@transaction.atomic
def update_ticket(
    *,
    actor: User | None,
    ticket: Ticket,
    changes: dict[str, Any],
    handoff_note: str | None = None,
) -> Ticket:
    """Apply field changes; each changed field gets its own timeline event. Moving the ticket
    from one team to another is a hand-off: a person must give `handoff_note` (None: the
    system re-routes and states none); see aftercare.collab.handoffs."""
    from aftercare.collab import handoffs

    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationFailed(code="unknown_fields", details={"fields": sorted(unknown)})
    ticket = _locked(ticket)
    if ticket.merged_into_id:
        raise Conflict(_("工单已合并，不能再修改"), code="ticket_merged")
    _check_refs(
        customer=ticket.customer,
        contact=changes.get("contact"),
        product_unit=changes.get("product_unit"),
        assignee=changes.get("assignee"),
        team=changes.get("team"),
    )
    previous_team = ticket.team
    handing_off = "team" in changes and handoffs.is_handoff(previous_team, changes["team"])
    if handing_off:
        handoffs.check_handoff_note(handoff_note)
    if "tags" in changes:
        changes["tags"] = _clean_tags(changes["tags"])
    if "custom_fields" in changes or "kind" in changes:
        merged = {**ticket.custom_fields, **changes.get("custom_fields", {})}
        changes["custom_fields"] = validate_custom_fields(
            changes.get("kind", ticket.kind),
            merged,
            is_staff=bool(actor and not actor.is_customer),
            check_required=False,
        )
    now = timezone.now()
    changed = []
    for field, new in changes.items():
        old = getattr(ticket, field)
        if old == new:
            continue
        setattr(ticket, field, new)
        changed.append(field)
        kind = EventKind.ASSIGNED if field == "assignee" else EventKind.FIELD_CHANGED
        record_event(
            ticket,
            actor,
            kind,
            field=field,
            before=old,
            after=new,
            at=now,
            is_internal=field in INTERNAL_FIELDS,
        )
    if "assignee" in changed and ticket.assignee_id and ticket.status == Status.NEW:
        record_event(
            ticket,
            actor,
            EventKind.STATUS_CHANGED,
            field="status",
            before=Status.NEW,
            after=Status.OPEN,
            at=now,
        )
        ticket.status = Status.OPEN
        changed.append("status")
    if handing_off:
        handoffs.record_handoff(
            actor=actor,
            ticket=ticket,
            from_team=previous_team,
            to_team=ticket.team,
            note=handoff_note,
            at=now,
        )
    if changed:
        ticket.updated_at = now
        ticket.save(update_fields=[*changed, "updated_at"])
        if {"priority", "kind", "team", "product_unit"} & set(changed):
            sla.reevaluate(ticket, now, actor)
        if {"subject", "description", "product_unit"} & set(changed):
            refresh_search_document(ticket)
        triage.note_field_changes(actor=actor, ticket=ticket, fields=changed)
    return ticket


def _apply_status(
    ticket: Ticket, actor: User | None, to_status: str, *, now: dt.datetime, reason: str = ""
) -> None:
    before = ticket.status
    reopening = is_reopen(before, to_status)
    ticket.status = to_status
    if to_status == Status.RESOLVED:
        ticket.resolved_at = now
    elif to_status == Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif reopening:
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.updated_at = now
    record_event(
        ticket,
        actor,
        EventKind.STATUS_CHANGED,
        field="status",
        before=before,
        after=to_status,
        data={"reason": reason, "reopened": reopening},
        at=now,
    )
    sla.record_status(ticket, before, to_status, now)


@transaction.atomic
def transition_ticket(
    *,
    actor: User | None,
    ticket: Ticket,
    to_status: str,
    reason: str = "",
    override_open_requests: bool = False,
) -> Ticket:
    """Open collaboration requests block resolving and closing unless a lead or admin sets
    `override_open_requests` with a reason (aftercare.collab.requests)."""
    from aftercare.collab.requests import check_resolution_allowed

    ticket = _locked(ticket)
    if ticket.merged_into_id:
        raise Conflict(
            _("工单已合并到 %(number)s") % {"number": _merged_number(ticket)},
            code="ticket_merged",
        )
    check_transition(ticket.status, to_status)
    now = timezone.now()
    if is_reopen(ticket.status, to_status) and not ticket.can_reopen(now):
        raise Conflict(
            _("已超过可重新打开的期限"),
            code="reopen_window_passed",
            details={"deadline": _value(ticket.reopen_deadline())},
        )
    if to_status in (Status.RESOLVED, Status.CLOSED):
        check_resolution_allowed(
            actor=actor,
            ticket=ticket,
            to_status=to_status,
            override=override_open_requests,
            reason=reason,
            at=now,
        )
    _apply_status(ticket, actor, to_status, now=now, reason=reason)
    ticket.save(update_fields=["status", "resolved_at", "closed_at", "updated_at"])
    return ticket


class _StagedFiles:
    """Files written during a transaction; removed again when the block raises, so a refused
    request leaves nothing half-stored behind."""

    def __init__(self) -> None:
        self.written: list[tuple[Any, str | None]] = []

    def __enter__(self) -> "_StagedFiles":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            for storage, name in self.written:
                storage.delete(name)

    def store(
        self,
        *,
        actor: User | None,
        ticket: Ticket,
        upload: UploadedFile,
        checked,
        message: Message | None,
        is_internal: bool,
        now: dt.datetime,
    ) -> Attachment:
        attachment = Attachment(
            ticket=ticket,
            message=message,
            original_name=checked.name,
            content_type=checked.content_type,
            size=checked.size,
            sha256=checked.sha256,
            is_internal=is_internal,
            uploaded_by=actor,
            created_at=now,
        )
        attachment.file.save(checked.name, upload, save=False)
        self.written.append((attachment.file.storage, attachment.file.name))
        attachment.save()
        record_event(
            ticket,
            actor,
            EventKind.ATTACHMENT_ADDED,
            at=now,
            is_internal=is_internal,
            data={"attachment_id": attachment.pk, "name": checked.name, "size": checked.size},
        )
        return attachment


def _check_uploads(uploads: list[UploadedFile], limit: int | None = None) -> list:
    return [check_upload(u.name or "", u, u.size or 0, limit=limit) for u in uploads]


@transaction.atomic
def add_message(
    *,
    actor: User | None,
    ticket: Ticket,
    text: str | None = None,
    html: str | None = None,
    visibility: str = MessageVisibility.PUBLIC,
    channel: str = "api",
    is_automatic: bool = False,
    attachments: list[UploadedFile] | None = None,
    attachment_max_bytes: int | None = None,
) -> Message:
    """Append a reply or internal note.

    A customer's reply moves a ticket waiting on them back to open and reopens a resolved one
    within the reopen window; a closed ticket takes no more customer replies. A person's first
    public reply from the service side records the first response.
    """
    ticket = _locked(ticket)
    if ticket.merged_into_id:
        raise Conflict(
            _("工单已合并到 %(number)s") % {"number": _merged_number(ticket)},
            code="ticket_merged",
        )
    body_text, body_html = clean_body(text=text, html_body=html)
    if not body_text and not attachments:
        raise ValidationFailed(_("消息内容不能为空"), code="message_empty")
    from_customer = actor is not None and actor.is_customer
    if from_customer and visibility != MessageVisibility.PUBLIC:
        raise ValidationFailed(_("客户不能添加内部备注"), code="internal_note_refused")
    if from_customer and ticket.status == Status.CLOSED:
        raise Conflict(_("工单已关闭，请提交新的服务请求"), code="ticket_closed")
    checked_uploads = _check_uploads(attachments or [], attachment_max_bytes)
    now = timezone.now()
    with _StagedFiles() as staged:
        message = _write_message(
            actor=actor,
            ticket=ticket,
            body_text=body_text,
            body_html=body_html,
            visibility=visibility,
            channel=channel,
            is_automatic=is_automatic,
            now=now,
            uploads=list(zip(attachments or [], checked_uploads, strict=True)),
            staged=staged,
        )
    return message


def _write_message(
    *,
    actor,
    ticket,
    body_text,
    body_html,
    visibility,
    channel,
    is_automatic,
    now,
    uploads,
    staged: _StagedFiles,
) -> Message:
    from_customer = actor is not None and actor.is_customer
    message = Message.objects.create(
        ticket=ticket,
        original_ticket=ticket,
        visibility=visibility,
        author=actor,
        channel=channel,
        body_text=body_text,
        body_html=body_html,
        is_automatic=is_automatic,
        created_at=now,
    )
    record_event(
        ticket,
        actor,
        EventKind.MESSAGE_ADDED,
        at=now,
        is_internal=visibility == MessageVisibility.INTERNAL,
        data={"message_id": message.pk, "visibility": visibility},
    )
    for upload, checked in uploads:
        staged.store(
            actor=actor,
            ticket=ticket,
            upload=upload,
            checked=checked,
            message=message,
            is_internal=visibility == MessageVisibility.INTERNAL,
            now=now,
        )
    updates = ["updated_at"]
    public = visibility == MessageVisibility.PUBLIC
    if from_customer and ticket.status == Status.PENDING_CUSTOMER:
        _apply_status(ticket, actor, Status.OPEN, now=now, reason="customer_replied")
        updates += ["status"]
    elif from_customer and ticket.status == Status.RESOLVED:
        if not ticket.can_reopen(now):
            raise Conflict(
                _("已超过可重新打开的期限，请提交新的服务请求"), code="reopen_window_passed"
            )
        _apply_status(ticket, actor, Status.OPEN, now=now, reason="customer_replied")
        updates += ["status", "resolved_at", "closed_at"]
    elif public and actor is not None and not from_customer and not is_automatic:
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            updates.append("first_response_at")
        if ticket.status == Status.NEW:
            _apply_status(ticket, actor, Status.OPEN, now=now)
            updates.append("status")
    ticket.updated_at = now
    ticket.save(update_fields=updates)
    if public and from_customer:
        sla.record_customer_message(ticket, now)
    elif public and actor is not None and not is_automatic:
        sla.record_response(ticket, now, actor)
    refresh_search_document(ticket)
    if public and not from_customer and not is_automatic:
        transaction.on_commit(lambda: tasks.notify_customer_of_reply(message.pk))
    return message


@transaction.atomic
def add_attachment(
    *,
    actor: User | None,
    ticket: Ticket,
    upload: UploadedFile,
    is_internal: bool = False,
    attachment_max_bytes: int | None = None,
) -> Attachment:
    ticket = _locked(ticket)
    if ticket.merged_into_id:
        raise Conflict(_("工单已合并，不能再修改"), code="ticket_merged")
    (checked,) = _check_uploads([upload], attachment_max_bytes)
    with _StagedFiles() as staged:
        attachment = staged.store(
            actor=actor,
            ticket=ticket,
            upload=upload,
            checked=checked,
            message=None,
            is_internal=is_internal,
            now=timezone.now(),
        )
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=attachment.created_at)
    return attachment


def _parent_chain(ticket_id: int) -> set[int]:
    """Ids of every ancestor of a ticket through parent_of links."""
    ancestors: set[int] = set()
    frontier = {ticket_id}
    while frontier:
        parents = (
            set(
                TicketLink.objects.filter(
                    kind=LinkKind.PARENT_OF, target_id__in=frontier
                ).values_list("source_id", flat=True)
            )
            - ancestors
        )
        ancestors |= parents
        frontier = parents
    return ancestors


@transaction.atomic
def link_tickets(*, actor: User | None, source: Ticket, target: Ticket, kind: str) -> TicketLink:
    """source duplicate_of target · source related target · source parent_of target."""
    if source.pk == target.pk:
        raise ValidationFailed(_("工单不能关联自身"), code="link_self")
    if kind not in LinkKind.values:
        raise ValidationFailed(code="unknown_link_kind", details={"allowed": LinkKind.values})
    pair = TicketLink.objects.filter(source=source, target=target, kind=kind)
    if kind == LinkKind.RELATED:
        pair = TicketLink.objects.filter(
            kind=kind, source__in=[source, target], target__in=[source, target]
        )
    if pair.exists():
        raise Conflict(_("这两个工单已经关联"), code="link_exists")
    if kind == LinkKind.PARENT_OF:
        if TicketLink.objects.filter(kind=kind, target=target).exists():
            raise Conflict(_("子工单已有父工单"), code="link_second_parent")
        if target.pk in _parent_chain(source.pk) | {source.pk}:
            raise Conflict(_("关联会形成循环"), code="link_cycle")
    if (
        kind == LinkKind.DUPLICATE_OF
        and TicketLink.objects.filter(kind=kind, source=target, target=source).exists()
    ):
        raise Conflict(_("关联会形成循环"), code="link_cycle")
    link = TicketLink.objects.create(source=source, target=target, kind=kind, created_by=actor)
    now = timezone.now()
    for ticket, other, direction in ((source, target, "out"), (target, source, "in")):
        record_event(
            ticket,
            actor,
            EventKind.LINKED,
            at=now,
            data={
                "link_id": link.pk,
                "kind": kind,
                "direction": direction,
                "other": {"id": other.pk, "number": other.number},
            },
        )
    return link


@transaction.atomic
def unlink_tickets(*, actor: User | None, link: TicketLink) -> None:
    now = timezone.now()
    for ticket, other, direction in (
        (link.source, link.target, "out"),
        (link.target, link.source, "in"),
    ):
        record_event(
            ticket,
            actor,
            EventKind.UNLINKED,
            at=now,
            data={
                "kind": link.kind,
                "direction": direction,
                "other": {"id": other.pk, "number": other.number},
            },
        )
    link.delete()


@transaction.atomic
def merge_tickets(*, actor: User | None, source: Ticket, target: Ticket) -> Ticket:
    """Move source's messages and attachments onto target and close source with a pointer.

    Source keeps its own timeline (events are never moved or rewritten); target records what
    came in. Both tickets must belong to the same customer.
    """
    if source.pk == target.pk:
        raise ValidationFailed(_("工单不能合并到自身"), code="merge_self")
    first, second = sorted([source.pk, target.pk])
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[first, second])}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id or target.merged_into_id:
        raise Conflict(_("已合并的工单不能再合并"), code="ticket_merged")
    if source.customer_id != target.customer_id:
        raise Conflict(_("只能合并同一客户的工单"), code="merge_different_customers")
    if target.status not in OPEN_STATUSES:
        raise Conflict(_("只能合并到未解决的工单"), code="merge_target_not_open")
    now = timezone.now()
    moved_messages = Message.objects.filter(ticket=source).update(ticket=target)
    moved_attachments = Attachment.objects.filter(ticket=source).update(ticket=target)
    followers = list(source.followers.all())
    target.followers.add(*followers)
    before = source.status
    source.merged_into = target
    source.status = Status.CLOSED
    source.closed_at = now
    source.resolved_at = source.resolved_at or now
    source.updated_at = now
    source.save(update_fields=["merged_into", "status", "closed_at", "resolved_at", "updated_at"])
    sla.stop_all(source, now)
    record_event(
        source,
        actor,
        EventKind.MERGED_INTO,
        at=now,
        before=before,
        after=Status.CLOSED,
        field="status",
        data={"target": {"id": target.pk, "number": target.number}},
    )
    record_event(
        target,
        actor,
        EventKind.MERGED_IN,
        at=now,
        data={
            "source": {"id": source.pk, "number": source.number},
            "messages": moved_messages,
            "attachments": moved_attachments,
        },
    )
    target.updated_at = now
    target.save(update_fields=["updated_at"])
    refresh_search_document(target)
    refresh_search_document(source)
    return target


@transaction.atomic
def add_follower(*, actor: User | None, ticket: Ticket, user: User) -> None:
    if user.is_customer:
        raise ValidationFailed(_("只有服务人员可以关注工单"), code="follower_not_staff")
    if ticket.followers.filter(pk=user.pk).exists():
        return
    ticket.followers.add(user)
    record_event(ticket, actor, EventKind.FOLLOWER_ADDED, after=user, is_internal=True)


@transaction.atomic
def remove_follower(*, actor: User | None, ticket: Ticket, user: User) -> None:
    if not ticket.followers.filter(pk=user.pk).exists():
        return
    ticket.followers.remove(user)
    record_event(ticket, actor, EventKind.FOLLOWER_REMOVED, before=user, is_internal=True)
