import datetime as dt

from ninja import Field, Schema

from aftercare.core.schemas import ObjectId

from .choices import RequestKind, RequestStatus


class CollaborationRequestIn(Schema):
    ticket_id: ObjectId
    kind: RequestKind
    question: str = Field(..., min_length=1, max_length=10_000)
    # A plain string, checked by the service: an unknown department gets its own error code.
    target_department: str = Field(..., max_length=32)
    target_team_id: ObjectId | None = None
    target_user_id: ObjectId | None = None
    due_at: dt.datetime | None = None


class ResponseIn(Schema):
    response: str = Field(..., max_length=10_000)


class ReasonIn(Schema):
    reason: str = Field("", max_length=2000)


class Ref(Schema):
    id: int
    name: str


class TicketRef(Schema):
    id: int
    number: str
    subject: str


class CollaborationRequestOut(Schema):
    id: int
    ticket: TicketRef
    kind: RequestKind
    status: RequestStatus
    question: str
    requested_by: Ref | None
    requesting_team: Ref | None
    target_department: str
    target_team: Ref | None
    target_user: Ref | None
    due_at: dt.datetime
    ola_minutes: int | None
    overdue: bool
    overdue_at: dt.datetime | None
    created_at: dt.datetime
    accepted_by: Ref | None
    accepted_at: dt.datetime | None
    closed_by: Ref | None
    closed_at: dt.datetime | None
    response: str
    decline_reason: str
    cancel_reason: str


class CollaborationRequestPage(Schema):
    items: list[CollaborationRequestOut]
    next_offset: int | None


class HandoffOut(Schema):
    id: int
    actor: Ref | None
    from_team: Ref | None
    to_team: Ref | None
    note: str
    created_at: dt.datetime
