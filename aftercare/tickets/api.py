import datetime as dt

from django.db.models import prefetch_related_objects
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import File, Form, Header, Query, Router, Schema
from ninja import Status as Reply
from ninja.files import UploadedFile

from aftercare.accounts import policy
from aftercare.accounts.models import Team, User
from aftercare.catalog.selectors import get_visible_unit
from aftercare.core.api_support import (
    create_once,
    decode_cursor,
    encode_cursor,
)
from aftercare.core.errors import NotFound, ValidationFailed
from aftercare.core.http import AuthedRequest
from aftercare.core.schemas import ObjectId
from aftercare.customers.models import Contact, Customer
from aftercare.customers.services import find_or_create_customer
from aftercare.intake.services import submit_request
from aftercare.sla.selectors import clock_summary, clocks_prefetch

from . import selectors, services
from .choices import EventKind, MessageVisibility, Priority, Status
from .models import Attachment, Message, Ticket, TicketLink
from .schemas import (
    AttachmentOut,
    EventOut,
    FollowerIn,
    LinkIn,
    LinkOut,
    MergeIn,
    MessageIn,
    MessageOut,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
    TransitionIn,
)

router = Router(tags=["tickets"])
attachments_router = Router(tags=["attachments"])
CUSTOMER_EVENT_DATA = {
    EventKind.MESSAGE_ADDED,
    EventKind.STATUS_CHANGED,
    EventKind.MERGED_INTO,
    EventKind.MERGED_IN,
    EventKind.ATTACHMENT_ADDED,
}


def _ref(obj) -> dict | None:
    if obj is None:
        return None
    return {"id": obj.pk, "name": getattr(obj, "display_name", "") or str(obj)}


def ticket_out(ticket: Ticket, user: User) -> dict:
    unit = ticket.product_unit
    custom_fields = ticket.custom_fields
    if user.is_customer:
        from .custom_fields import definitions_for

        hidden = {d.key for d in definitions_for(ticket.kind) if d.agent_only}
        custom_fields = {k: v for k, v in custom_fields.items() if k not in hidden}
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "public_reference": ticket.public_reference,
        "kind": ticket.kind,
        "channel": ticket.channel,
        "subject": ticket.subject,
        "description": ticket.description,
        "status": ticket.status,
        "priority": ticket.priority,
        "customer": _ref(ticket.customer),
        "contact": None
        if ticket.contact is None
        else {
            "id": ticket.contact.pk,
            "name": ticket.contact.name,
            "mobile": ticket.contact.mobile,
            "email": ticket.contact.email,
        },
        "product_unit": None
        if unit is None
        else {
            "id": unit.pk,
            "serial": unit.serial,
            "model_number": unit.product.model_number,
            "product_name": unit.product.name,
        },
        "team": _ref(ticket.team),
        "assignee": None if user.is_customer else _ref(ticket.assignee),
        "tags": [] if user.is_customer else ticket.tags,
        "custom_fields": custom_fields,
        "due_at": ticket.due_at,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "first_response_at": ticket.first_response_at,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "sla": None if user.is_customer else clock_summary(list(ticket.sla_clocks.all())),
        "merged_into": None
        if ticket.merged_into is None
        else {
            "id": ticket.merged_into.pk,
            "number": ticket.merged_into.number,
        },
    }


def _ticket_detail(ticket_id: int, user: User) -> dict:
    ticket = policy.get_visible_ticket(user, ticket_id, selectors.ticket_list_queryset())
    out = ticket_out(ticket, user)
    if not user.is_customer:
        out["follower_ids"] = list(ticket.followers.values_list("id", flat=True))
    return out


def _team(team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise ValidationFailed(_("团队不存在"), code="team_not_found")
    return team


def _staff_user(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise ValidationFailed(_("用户不存在"), code="user_not_found")
    return user


def _resolve_customer(user: User, payload: TicketIn) -> tuple[Customer, Contact | None]:
    customer: Customer | None = None
    if user.is_customer:
        customer = user.customer
    elif payload.customer_id is not None:
        customer = Customer.objects.filter(pk=payload.customer_id).first()
        if customer is None:
            raise ValidationFailed(_("客户不存在"), code="customer_not_found")
    if customer is not None:
        if payload.contact_id is not None:
            return customer, _contact_of(customer, payload.contact_id)
        return customer, customer.contacts.first()
    if payload.customer is None:
        raise ValidationFailed(_("需要 customer_id 或 customer 联系信息"), code="customer_required")
    ref = payload.customer
    match = find_or_create_customer(
        name=ref.name, mobile=ref.mobile, email=ref.email, wechat_id=ref.wechat_id
    )
    return match.customer, match.contact


@router.post("/tickets", response={201: TicketOut, 200: TicketOut}, summary="Open a ticket")
def create_ticket(
    request: AuthedRequest,
    payload: TicketIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
):
    user = request.user
    sent = payload.model_dump(exclude_unset=True)
    policy.check_ticket_create(user, set(sent), payload.customer_id)

    def open_it() -> Ticket:
        customer, contact = _resolve_customer(user, payload)
        unit = get_visible_unit(user, payload.serial) if payload.serial else None
        return submit_request(
            actor=user,
            kind=payload.kind,
            channel=payload.channel,
            subject=payload.subject,
            description=payload.description,
            customer=customer,
            contact=contact,
            product_unit=unit,
            priority=payload.priority or Priority.REGULAR,
            team=_team(payload.team_id),
            assignee=_staff_user(payload.assignee_id),
            tags=payload.tags,
            custom_fields=payload.custom_fields,
        )

    ticket, ticket_id = create_once(
        user=user, scope="ticket", key=idempotency_key, payload=sent, create=open_it
    )
    if ticket is None:
        # Made earlier with this key (or by a concurrent request that committed first).
        return Reply(200, _ticket_detail(ticket_id, user))
    # The objects are in memory already; only the clocks are read back for the answer.
    prefetch_related_objects([ticket], clocks_prefetch())
    return Reply(201, ticket_out(ticket, user))


class TicketListQuery(Schema):
    status: list[Status] | None = None
    open: bool | None = None
    kind: str | None = None
    team_id: ObjectId | None = None
    assignee_id: ObjectId | None = None
    unassigned: bool | None = None
    priority: Priority | None = None
    customer_id: ObjectId | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    due_before: dt.datetime | None = None
    breached: bool | None = None
    q: str | None = None
    ordering: str = "-created_at"
    cursor: str | None = None
    limit: int = 50


@router.get("/tickets", response=TicketPage, summary="List tickets")
def list_tickets(request: AuthedRequest, query: Query[TicketListQuery]):
    if not 1 <= query.limit <= 200:
        raise ValidationFailed(_("limit 必须在 1 到 200 之间"), code="invalid_limit")
    filters = selectors.TicketFilters(
        status=[s.value for s in query.status] if query.status else None,
        open=query.open,
        kind=query.kind,
        team_id=query.team_id,
        assignee_id=query.assignee_id,
        unassigned=query.unassigned,
        priority=query.priority,
        customer_id=query.customer_id,
        created_after=query.created_after,
        created_before=query.created_before,
        due_before=query.due_before,
        breached=query.breached,
        q=(query.q or "").strip()[:200] or None,
    )
    if query.ordering not in selectors.ORDERINGS:
        raise ValidationFailed(
            code="invalid_ordering", details={"allowed": sorted(selectors.ORDERINGS)}
        )
    cursor_values = None
    if query.cursor:
        cursor_values = decode_cursor(query.cursor, len(selectors.ORDERINGS[query.ordering][0]))
    rows, next_values = selectors.list_tickets(
        request.user,
        filters,
        ordering=query.ordering,
        cursor_values=cursor_values,
        limit=query.limit,
    )
    return {
        "items": [ticket_out(t, request.user) for t in rows],
        "next_cursor": encode_cursor(next_values) if next_values else None,
    }


@router.get("/tickets/{int:ticket_id}", response=TicketOut, summary="Read a ticket")
def get_ticket(request: AuthedRequest, ticket_id: int):
    return _ticket_detail(ticket_id, request.user)


@router.patch("/tickets/{int:ticket_id}", response=TicketOut, summary="Change ticket fields")
def update_ticket(request: AuthedRequest, ticket_id: int, payload: TicketPatch):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    sent = payload.model_dump(exclude_unset=True)
    # Through the API a person acts: a hand-off without a note is refused (see services).
    handoff_note = sent.pop("handoff_note", None) or ""
    field_names = {k.removesuffix("_id") if k != "serial" else "product_unit" for k in sent}
    policy.check_ticket_update(user, ticket, field_names)
    changes: dict = {}
    for key, value in sent.items():
        if key == "team_id":
            changes["team"] = _team(value)
        elif key == "assignee_id":
            changes["assignee"] = _staff_user(value)
        elif key == "contact_id":
            changes["contact"] = None if value is None else _contact_of(ticket.customer, value)
        elif key == "serial":
            changes["product_unit"] = None if value is None else get_visible_unit(user, value)
        elif value is None and key in ("subject", "kind", "priority", "tags", "custom_fields"):
            raise ValidationFailed(_("%(field)s 不能为空") % {"field": key}, code="field_required")
        else:
            changes[key] = value
    updated = services.update_ticket(
        actor=user, ticket=ticket, changes=changes, handoff_note=handoff_note
    )
    if "team" in changes and not policy.visible_tickets(user).filter(pk=ticket_id).exists():
        # Handed off to a team the caller is not in: the answer still shows what they did.
        prefetch_related_objects([updated], clocks_prefetch())
        return ticket_out(updated, user)
    return _ticket_detail(ticket_id, user)


def _contact_of(customer: Customer, contact_id: int) -> Contact:
    contact = customer.contacts.filter(pk=contact_id).first()
    if contact is None:
        raise ValidationFailed(_("联系人不存在"), code="contact_not_found")
    return contact


@router.post(
    "/tickets/{int:ticket_id}/transition",
    response=TicketOut,
    summary="Move a ticket to another status",
)
def transition_ticket(request: AuthedRequest, ticket_id: int, payload: TransitionIn):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    policy.check_transition(user, ticket, payload.status)
    services.transition_ticket(
        actor=user,
        ticket=ticket,
        to_status=payload.status,
        reason=payload.reason,
        override_open_requests=payload.override_open_requests,
    )
    return _ticket_detail(ticket_id, user)


def attachment_out(attachment: Attachment) -> dict:
    return {
        "id": attachment.pk,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "is_internal": attachment.is_internal,
        "message_id": attachment.message_id,
        "created_at": attachment.created_at,
        "download_url": reverse(
            "api-1.0.0:download_attachment", kwargs={"attachment_id": attachment.pk}
        ),
    }


def message_out(message: Message, user: User) -> dict:
    return {
        "id": message.pk,
        "ticket_id": message.ticket_id,
        "visibility": message.visibility,
        "author": _ref(message.author),
        "channel": message.channel,
        "text": message.body_text,
        "html": message.body_html,
        "is_automatic": message.is_automatic,
        "created_at": message.created_at,
        "attachments": [
            attachment_out(a)
            for a in message.attachments.all()
            if policy.can_see_internal(user) or not a.is_internal
        ],
    }


@router.get(
    "/tickets/{int:ticket_id}/messages",
    response=list[MessageOut],
    summary="Conversation of a ticket",
)
def list_messages(request: AuthedRequest, ticket_id: int):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    messages = ticket.messages.select_related("author").prefetch_related("attachments")
    if not policy.can_see_internal(user):
        messages = messages.filter(visibility=MessageVisibility.PUBLIC)
    return [message_out(m, user) for m in messages]


@router.post(
    "/tickets/{int:ticket_id}/messages",
    response={201: MessageOut},
    summary="Reply or add an internal note",
)
def add_message(request: AuthedRequest, ticket_id: int, payload: MessageIn):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    policy.check_message(user, ticket, payload.visibility)
    message = services.add_message(
        actor=user,
        ticket=ticket,
        text=payload.text,
        html=payload.html,
        visibility=payload.visibility,
        channel="portal" if user.is_customer else "api",
    )
    return Reply(201, message_out(message, user))


@router.post(
    "/tickets/{int:ticket_id}/attachments",
    response={201: AttachmentOut},
    summary="Upload a file to a ticket",
)
def upload_attachment(
    request: AuthedRequest,
    ticket_id: int,
    file: File[UploadedFile],
    is_internal: Form[bool] = False,
):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    policy.check_message(user, ticket, "internal" if is_internal else "public")
    attachment = services.add_attachment(
        actor=user, ticket=ticket, upload=file, is_internal=is_internal
    )
    return Reply(201, attachment_out(attachment))


@router.get(
    "/tickets/{int:ticket_id}/attachments",
    response=list[AttachmentOut],
    summary="Files of a ticket",
)
def list_attachments(request: AuthedRequest, ticket_id: int):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    attachments = ticket.attachments.all()
    if not policy.can_see_internal(user):
        attachments = attachments.filter(is_internal=False)
    return [attachment_out(a) for a in attachments]


@attachments_router.get(
    "/attachments/{int:attachment_id}/download",
    url_name="download_attachment",
    summary="Download a file",
)
def download_attachment(request: AuthedRequest, attachment_id: int):
    user = request.user
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if (
        attachment is None
        or (attachment.is_internal and not policy.can_see_internal(user))
        or not policy.visible_tickets(user).filter(pk=attachment.ticket_id).exists()
    ):
        raise NotFound(_("附件不存在"), code="attachment_not_found")
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.original_name,
        content_type="application/octet-stream",
    )
    # Never let a browser render an upload as a page of ours.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@router.get(
    "/tickets/{int:ticket_id}/timeline",
    response=list[EventOut],
    summary="Everything that happened to a ticket",
)
def get_timeline(request: AuthedRequest, ticket_id: int):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    events = []
    for event in selectors.timeline(user, ticket):
        data = event.data
        if user.is_customer and event.kind not in CUSTOMER_EVENT_DATA:
            data = {}
        events.append(
            {
                "id": event.pk,
                "kind": event.kind,
                "actor": _ref(event.actor),
                "field": event.field,
                "before": event.before,
                "after": event.after,
                "data": data,
                "created_at": event.created_at,
            }
        )
    return events


def link_out(link: TicketLink, ticket_id: int) -> dict:
    outgoing = link.source_id == ticket_id
    other = link.target if outgoing else link.source
    return {
        "id": link.pk,
        "kind": link.kind,
        "direction": "out" if outgoing else "in",
        "other": {"id": other.pk, "number": other.number},
        "created_at": link.created_at,
    }


@router.get("/tickets/{int:ticket_id}/links", response=list[LinkOut], summary="Linked tickets")
def list_links(request: AuthedRequest, ticket_id: int):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    visible = policy.visible_tickets(user).values("id")
    links = TicketLink.objects.select_related("source", "target").filter(
        source=ticket, target_id__in=visible
    ) | TicketLink.objects.select_related("source", "target").filter(
        target=ticket, source_id__in=visible
    )
    return [link_out(link, ticket.pk) for link in links.order_by("created_at", "id")]


@router.post("/tickets/{int:ticket_id}/links", response={201: LinkOut}, summary="Link tickets")
def create_link(request: AuthedRequest, ticket_id: int, payload: LinkIn):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    target = policy.get_visible_ticket(user, payload.target_id)
    policy.check_merge(user, ticket, target)
    link = services.link_tickets(actor=user, source=ticket, target=target, kind=payload.kind)
    return Reply(201, link_out(link, ticket.pk))


@router.delete(
    "/tickets/{int:ticket_id}/links/{int:link_id}", response={204: None}, summary="Remove a link"
)
def delete_link(request: AuthedRequest, ticket_id: int, link_id: int):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    link = (
        (TicketLink.objects.filter(source=ticket) | TicketLink.objects.filter(target=ticket))
        .filter(pk=link_id)
        .select_related("source", "target")
        .first()
    )
    if link is None:
        raise NotFound(_("关联不存在"), code="link_not_found")
    other = link.target if link.source_id == ticket.pk else link.source
    policy.check_merge(user, ticket, other)
    services.unlink_tickets(actor=user, link=link)
    return Reply(204, None)


@router.post(
    "/tickets/{int:ticket_id}/merge", response=TicketOut, summary="Merge this ticket into another"
)
def merge_ticket(request: AuthedRequest, ticket_id: int, payload: MergeIn):
    user = request.user
    source = policy.get_visible_ticket(user, ticket_id)
    target = policy.get_visible_ticket(user, payload.target_id)
    policy.check_merge(user, source, target)
    services.merge_tickets(actor=user, source=source, target=target)
    return _ticket_detail(target.pk, user)


@router.post("/tickets/{int:ticket_id}/followers", response={204: None}, summary="Follow")
def add_follower(request: AuthedRequest, ticket_id: int, payload: FollowerIn):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    follower = get_object_or_404(User, pk=payload.user_id, is_active=True)
    policy.check_follow(user, ticket, follower)
    services.add_follower(actor=user, ticket=ticket, user=follower)
    return Reply(204, None)


@router.delete(
    "/tickets/{int:ticket_id}/followers/{int:user_id}", response={204: None}, summary="Unfollow"
)
def remove_follower(request: AuthedRequest, ticket_id: int, user_id: int):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    follower = get_object_or_404(User, pk=user_id)
    policy.check_follow(user, ticket, follower)
    services.remove_follower(actor=user, ticket=ticket, user=follower)
    return Reply(204, None)
