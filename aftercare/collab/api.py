from django.utils.translation import gettext as _
from ninja import Header, Query, Router, Schema
from ninja import Status as Reply

from aftercare.accounts import policy
from aftercare.accounts.choices import Department
from aftercare.accounts.models import Team, User
from aftercare.core.api_support import create_once
from aftercare.core.errors import ValidationFailed
from aftercare.core.http import AuthedRequest
from aftercare.core.schemas import ObjectId

from . import handoffs, requests, selectors
from .choices import RequestStatus
from .models import CollaborationRequest
from .schemas import (
    CollaborationRequestIn,
    CollaborationRequestOut,
    CollaborationRequestPage,
    HandoffOut,
    ReasonIn,
    ResponseIn,
)

router = Router(tags=["collaboration"])


def _ref(obj) -> dict | None:
    if obj is None:
        return None
    return {"id": obj.pk, "name": getattr(obj, "display_name", "") or str(obj)}


def request_out(request: CollaborationRequest) -> dict:
    ticket = request.ticket
    return {
        "id": request.pk,
        "ticket": {"id": ticket.pk, "number": ticket.number, "subject": ticket.subject},
        "kind": request.kind,
        "status": request.status,
        "question": request.question,
        "requested_by": _ref(request.requested_by),
        "requesting_team": _ref(request.requesting_team),
        "target_department": request.target_department,
        "target_team": _ref(request.target_team),
        "target_user": _ref(request.target_user),
        "due_at": request.due_at,
        "ola_minutes": request.ola_minutes,
        "overdue": request.overdue_at is not None,
        "overdue_at": request.overdue_at,
        "created_at": request.created_at,
        "accepted_by": _ref(request.accepted_by),
        "accepted_at": request.accepted_at,
        "closed_by": _ref(request.closed_by),
        "closed_at": request.closed_at,
        "response": request.response,
        "decline_reason": request.decline_reason,
        "cancel_reason": request.cancel_reason,
    }


def _detail(user: User, request_id: int) -> dict:
    return request_out(
        policy.get_visible_collaboration_request(user, request_id, selectors.request_queryset())
    )


class RequestListQuery(Schema):
    department: str | None = None
    status: list[RequestStatus] | None = None
    team_id: ObjectId | None = None
    ticket_id: ObjectId | None = None
    mine: bool = False
    overdue: bool | None = None
    limit: int = 50
    offset: int = 0


@router.get(
    "/collab/requests",
    response=CollaborationRequestPage,
    summary="Collaboration requests (a department's queue)",
)
def list_requests(request: AuthedRequest, query: Query[RequestListQuery]):
    user = request.user
    policy.check_staff(user)
    if not 1 <= query.limit <= 200 or query.offset < 0:
        raise ValidationFailed(_("limit 必须在 1 到 200 之间"), code="invalid_limit")
    if query.department and query.department not in Department.values:
        raise ValidationFailed(
            _("部门不存在：%(department)s") % {"department": query.department},
            code="department_not_found",
            details={"allowed": list(Department.values)},
        )
    filters = selectors.RequestFilters(
        department=query.department,
        status=[s.value for s in query.status] if query.status else None,
        team_id=query.team_id,
        ticket_id=query.ticket_id,
        mine=query.mine,
        overdue=query.overdue,
    )
    rows = list(
        selectors.list_requests(user, filters)[query.offset : query.offset + query.limit + 1]
    )
    more = len(rows) > query.limit
    return {
        "items": [request_out(r) for r in rows[: query.limit]],
        "next_offset": query.offset + query.limit if more else None,
    }


@router.get(
    "/collab/requests/{int:request_id}",
    response=CollaborationRequestOut,
    summary="Read a collaboration request",
)
def get_request(request: AuthedRequest, request_id: int):
    return _detail(request.user, request_id)


def _target_team(team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise ValidationFailed(_("团队不存在"), code="team_not_found")
    return team


def _target_user(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ValidationFailed(_("用户不存在"), code="user_not_found")
    return user


@router.post(
    "/collab/requests",
    response={201: CollaborationRequestOut, 200: CollaborationRequestOut},
    summary="Ask a department for help on a ticket",
)
def create_request(
    request: AuthedRequest,
    payload: CollaborationRequestIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
):
    user = request.user
    ticket = policy.get_visible_ticket(user, payload.ticket_id)
    policy.check_collaboration_request(user, ticket)
    sent = payload.model_dump(mode="json")

    def request_it():
        return requests.request_collaboration(
            actor=user,
            ticket=ticket,
            kind=payload.kind,
            question=payload.question,
            target_department=payload.target_department,
            target_team=_target_team(payload.target_team_id),
            target_user=_target_user(payload.target_user_id),
            due_at=payload.due_at,
        )

    created, request_id = create_once(
        user=user, scope="collab_request", key=idempotency_key, payload=sent, create=request_it
    )
    if created is None:
        return Reply(200, _detail(user, request_id))
    return Reply(201, _detail(user, created.pk))


def _answerable(user: User, request_id: int) -> CollaborationRequest:
    found = policy.get_visible_collaboration_request(user, request_id)
    policy.check_collaboration_answer(user, found)
    return found


@router.post(
    "/collab/requests/{int:request_id}/accept",
    response=CollaborationRequestOut,
    summary="Accept a collaboration request",
)
def accept_request(request: AuthedRequest, request_id: int):
    user = request.user
    found = _answerable(user, request_id)
    requests.accept_collaboration_request(actor=user, request=found)
    return _detail(user, request_id)


@router.post(
    "/collab/requests/{int:request_id}/complete",
    response=CollaborationRequestOut,
    summary="Answer a collaboration request",
)
def complete_request(request: AuthedRequest, request_id: int, payload: ResponseIn):
    user = request.user
    found = _answerable(user, request_id)
    requests.complete_collaboration_request(actor=user, request=found, response=payload.response)
    return _detail(user, request_id)


@router.post(
    "/collab/requests/{int:request_id}/decline",
    response=CollaborationRequestOut,
    summary="Decline a collaboration request with a reason",
)
def decline_request(request: AuthedRequest, request_id: int, payload: ReasonIn):
    user = request.user
    found = _answerable(user, request_id)
    requests.decline_collaboration_request(actor=user, request=found, reason=payload.reason)
    return _detail(user, request_id)


@router.post(
    "/collab/requests/{int:request_id}/cancel",
    response=CollaborationRequestOut,
    summary="Withdraw a collaboration request",
)
def cancel_request(request: AuthedRequest, request_id: int, payload: ReasonIn):
    user = request.user
    found = policy.get_visible_collaboration_request(
        user, request_id, CollaborationRequest.objects.select_related("ticket")
    )
    policy.check_collaboration_cancel(user, found)
    requests.cancel_collaboration_request(actor=user, request=found, reason=payload.reason)
    return _detail(user, request_id)


@router.get(
    "/tickets/{int:ticket_id}/handoffs",
    response=list[HandoffOut],
    summary="The chain of hand-offs between teams",
)
def list_handoffs(request: AuthedRequest, ticket_id: int):
    user = request.user
    ticket = policy.get_visible_ticket(user, ticket_id)
    policy.check_handoffs_read(user, ticket)
    events = list(
        handoffs.handoff_events(ticket).select_related("actor").order_by("created_at", "id")
    )
    team_ids = {
        d.get(key) for e in events for d in (e.data,) for key in ("from_team_id", "to_team_id")
    }
    teams = Team.objects.in_bulk([t for t in team_ids if t])
    return [
        {
            "id": e.pk,
            "actor": _ref(e.actor),
            "from_team": _ref(teams.get(e.data.get("from_team_id"))),
            "to_team": _ref(teams.get(e.data.get("to_team_id"))),
            "note": e.data.get("note", ""),
            "created_at": e.created_at,
        }
        for e in events
    ]
