import datetime as dt
from typing import Any

from ninja import Field, Schema

from aftercare.core.schemas import ObjectId

from .choices import Channel, LinkKind, MessageVisibility, Priority, Status, TicketKind


class CustomerRefIn(Schema):
    """Identify the customer by a contact point; unknown ones are created."""

    name: str = Field("", max_length=200)
    mobile: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=254)
    wechat_id: str | None = Field(None, max_length=64)


class TicketIn(Schema):
    kind: TicketKind
    channel: Channel = Channel.API
    subject: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=50_000)
    customer_id: ObjectId | None = None
    customer: CustomerRefIn | None = None
    contact_id: ObjectId | None = None
    serial: str | None = Field(None, max_length=64)
    priority: Priority | None = None
    team_id: ObjectId | None = None
    assignee_id: ObjectId | None = None
    tags: list[str] = Field(default_factory=list, max_length=30)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class TicketPatch(Schema):
    kind: TicketKind | None = None
    subject: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=50_000)
    priority: Priority | None = None
    team_id: ObjectId | None = None
    assignee_id: ObjectId | None = None
    contact_id: ObjectId | None = None
    serial: str | None = Field(None, max_length=64)
    tags: list[str] | None = Field(None, max_length=30)
    custom_fields: dict[str, Any] | None = None
    # Required when team_id moves the ticket from one team to another (a hand-off).
    handoff_note: str | None = Field(None, max_length=2000)


class TransitionIn(Schema):
    status: Status
    reason: str = Field("", max_length=500)
    # A lead or admin resolves over open collaboration requests; `reason` says why.
    override_open_requests: bool = False


class Ref(Schema):
    id: int
    name: str


class TicketRef(Schema):
    id: int
    number: str


class UnitRef(Schema):
    id: int
    serial: str
    model_number: str
    product_name: str


class ContactRef(Schema):
    id: int
    name: str
    mobile: str | None
    email: str | None


class SlaOut(Schema):
    metric: str
    state: str
    target_minutes: int
    calendar: str
    due_at: dt.datetime | None
    remaining_minutes: int | None = Field(None, description="Business minutes left; < 0 when late")
    paused: bool
    met_at: dt.datetime | None
    breached_at: dt.datetime | None


class TicketOut(Schema):
    id: int
    number: str
    public_reference: str
    kind: str
    channel: str
    subject: str
    description: str
    status: str
    priority: str
    customer: Ref
    contact: ContactRef | None
    product_unit: UnitRef | None
    team: Ref | None
    assignee: Ref | None
    tags: list[str]
    custom_fields: dict[str, Any]
    due_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    merged_into: TicketRef | None
    sla: list[SlaOut] | None = None
    follower_ids: list[int] | None = None


class TicketPage(Schema):
    items: list[TicketOut]
    next_cursor: str | None


class MessageIn(Schema):
    text: str | None = Field(None, max_length=100_000)
    html: str | None = Field(None, max_length=500_000)
    visibility: MessageVisibility = MessageVisibility.PUBLIC


class AttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    is_internal: bool
    message_id: int | None
    download_url: str
    created_at: dt.datetime


class MessageOut(Schema):
    id: int
    ticket_id: int
    visibility: str
    author: Ref | None
    channel: str
    text: str
    html: str
    is_automatic: bool
    created_at: dt.datetime
    attachments: list[AttachmentOut]


class EventOut(Schema):
    id: int
    kind: str
    actor: Ref | None
    field: str
    before: Any
    after: Any
    data: dict[str, Any]
    created_at: dt.datetime


class LinkIn(Schema):
    target_id: ObjectId
    kind: LinkKind


class LinkOut(Schema):
    id: int
    kind: str
    direction: str
    other: TicketRef
    created_at: dt.datetime


class MergeIn(Schema):
    target_id: ObjectId


class FollowerIn(Schema):
    user_id: ObjectId
