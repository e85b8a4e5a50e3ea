"""Collaboration requests (协同请求): every write, each in one transaction, each with its ticket
timeline event and its notifications (queued after commit by collab.services.notify_many).

Kept apart from services.py (notifications), which the SLA sweeper imports while the tickets
services are still loading."""

import datetime as dt

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.accounts.choices import Department
from aftercare.accounts.models import Team, TeamMembership, User
from aftercare.accounts.policy import can_override_open_requests
from aftercare.core.errors import Conflict, Forbidden, ValidationFailed
from aftercare.sla.calendars import clock_for
from aftercare.tickets.choices import OPEN_STATUSES, EventKind
from aftercare.tickets.models import Ticket
from aftercare.tickets.services import record_event

from .choices import (
    ACTIVE_REQUEST_STATUS_VALUES,
    DEFAULT_OLA_MINUTES,
    OLA_CALENDAR,
    OLA_WARNING_SHARE,
    RequestKind,
    RequestStatus,
)
from .models import CollaborationRequest
from .services import Message, notify_many

NOTIFICATION_KIND = "collab_request"
OVERDUE_NOTIFICATION_KIND = "collab_overdue"
WARNING_NOTIFICATION_KIND = "collab_warning"


def clean_text(text: str | None) -> str:
    """Free text as stored: trimmed, without NUL characters (PostgreSQL stores none)."""
    return (text or "").replace("\x00", "").strip()


def warning_at(start: dt.datetime, due_at: dt.datetime) -> dt.datetime:
    """The instant OLA_WARNING_SHARE of the business time from `start` to `due_at` has passed;
    on wall-clock time when the whole span lies outside business hours."""
    clock = clock_for(OLA_CALENDAR)
    numerator, denominator = OLA_WARNING_SHARE
    total = clock.elapsed_seconds(start, due_at)
    if total > 0:
        return clock.add_seconds(start, total * numerator // denominator)
    return start + (due_at - start) * numerator / denominator


def default_due_at(kind: str, start: dt.datetime) -> tuple[dt.datetime, int]:
    """The due time of a request of this kind raised at `start`: its OLA in business minutes
    on the OLA calendar."""
    minutes = DEFAULT_OLA_MINUTES[RequestKind(kind)]
    return clock_for(OLA_CALENDAR).add_minutes(start, minutes), minutes


def _event_data(request: CollaborationRequest, **extra) -> dict:
    return {
        "request_id": request.pk,
        "kind": request.kind,
        "target_department": request.target_department,
        "target_team_id": request.target_team_id,
        "target_user_id": request.target_user_id,
        **extra,
    }


def target_users(request: CollaborationRequest, *, leads_only: bool = False) -> list[User]:
    """Who is asked: the person named, else the members of the team named, else the members of
    the department's active teams. `leads_only`: their team leads (the person named too)."""
    users: list[User] = []
    if request.target_user_id and request.target_user is not None:
        users.append(request.target_user)
        if not leads_only:
            return users
    memberships = TeamMembership.objects.filter(user__is_active=True).select_related("user")
    if request.target_team_id:
        memberships = memberships.filter(team_id=request.target_team_id)
    else:
        memberships = memberships.filter(
            team__department=request.target_department, team__is_active=True
        )
    if leads_only:
        memberships = memberships.filter(is_lead=True)
    users.extend(m.user for m in memberships.order_by("user_id"))
    return users


def _requesting_side(request: CollaborationRequest) -> list[User]:
    ticket = request.ticket
    return [u for u in (request.requested_by, ticket.assignee) if u is not None]


def _check_target(department: str, team: Team | None, user: User | None) -> None:
    if department not in Department.values:
        raise ValidationFailed(
            _("部门不存在：%(department)s") % {"department": department},
            code="department_not_found",
            details={"allowed": list(Department.values)},
        )
    if team is not None:
        if not team.is_active:
            raise ValidationFailed(_("团队已停用"), code="team_inactive")
        if team.department != department:
            raise ValidationFailed(_("该团队不属于所选部门"), code="team_not_in_department")
    if user is not None:
        if not user.is_active or not user.is_working_staff:
            raise ValidationFailed(_("协同人必须是在职的服务人员"), code="user_not_staff")
        member_of = TeamMembership.objects.filter(user=user)
        if team is not None:
            member_of = member_of.filter(team=team)
        else:
            member_of = member_of.filter(team__department=department)
        if not member_of.exists():
            raise ValidationFailed(_("协同人不属于所选部门或团队"), code="user_not_in_department")
    elif team is None and not Team.objects.filter(department=department, is_active=True).exists():
        raise ValidationFailed(_("该部门还没有可受理的团队"), code="department_has_no_team")


@transaction.atomic
def request_collaboration(
    *,
    actor: User,
    ticket: Ticket,
    kind: str,
    question: str,
    target_department: str,
    target_team: Team | None = None,
    target_user: User | None = None,
    due_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> CollaborationRequest:
    """Ask a department (or one of its teams or people) for an action or an answer. Without
    `due_at` the kind's OLA applies; a due time already past is refused."""
    now = now or timezone.now()
    if kind not in RequestKind.values:
        raise ValidationFailed(_("未知的协同类型"), code="unknown_request_kind")
    question = clean_text(question)
    if not question:
        raise ValidationFailed(_("请填写需要协同的内容"), code="question_required")
    _check_target(target_department, target_team, target_user)
    ola_minutes: int | None = None
    if due_at is None:
        due_at, ola_minutes = default_due_at(kind, now)
    elif due_at <= now:
        raise ValidationFailed(
            _("截止时间不能早于当前时间"),
            code="due_in_past",
            details={"due_at": due_at.isoformat(), "now": now.isoformat()},
        )
    ticket = (
        Ticket.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=ticket.pk)
    )
    if not ticket.is_open or ticket.merged_into_id:
        raise Conflict(_("工单已解决或关闭，不能再发起协同请求"), code="ticket_not_open")
    request = CollaborationRequest.objects.create(
        ticket=ticket,
        kind=kind,
        question=question,
        requested_by=actor,
        requesting_team_id=ticket.team_id,
        target_department=target_department,
        target_team=target_team,
        target_user=target_user,
        due_at=due_at,
        ola_minutes=ola_minutes,
        warn_at=warning_at(now, due_at),
        created_at=now,
    )
    record_event(
        ticket,
        actor,
        EventKind.COLLAB_REQUESTED,
        data=_event_data(request, question=question, due_at=due_at.isoformat()),
        is_internal=True,
        at=now,
    )
    department = Department(target_department).label
    notify_many(
        [
            Message(
                users=[u for u in target_users(request) if u.pk != actor.pk],
                kind=NOTIFICATION_KIND,
                title=_("%(department)s收到协同请求：%(number)s %(kind)s")
                % {
                    "department": department,
                    "number": ticket.number,
                    "kind": request.get_kind_display(),
                },
                body=question,
                ticket=ticket,
            )
        ]
    )
    return request


def _locked(request: CollaborationRequest) -> CollaborationRequest:
    return (
        CollaborationRequest.objects.select_for_update(of=("self",))
        .select_related("ticket__assignee", "requested_by", "target_user")
        .get(pk=request.pk)
    )


def _check_active(request: CollaborationRequest, *, allow: tuple[str, ...]) -> None:
    if request.status in allow:
        return
    if request.status == RequestStatus.ACCEPTED:
        raise Conflict(_("协同请求已被受理"), code="request_already_accepted")
    raise Conflict(
        _("协同请求已结束（%(status)s）") % {"status": request.get_status_display()},
        code="request_closed",
        details={"status": request.status},
    )


def _notify_requesters(request: CollaborationRequest, actor: User, title: str, body: str = ""):
    notify_many(
        [
            Message(
                users=[u for u in _requesting_side(request) if u.pk != actor.pk],
                kind=NOTIFICATION_KIND,
                title=title,
                body=body,
                ticket=request.ticket,
            )
        ]
    )


@transaction.atomic
def accept_collaboration_request(
    *, actor: User, request: CollaborationRequest
) -> CollaborationRequest:
    request = _locked(request)
    _check_active(request, allow=(RequestStatus.OPEN,))
    now = timezone.now()
    request.status = RequestStatus.ACCEPTED
    request.accepted_by = actor
    request.accepted_at = now
    request.save(update_fields=["status", "accepted_by", "accepted_at"])
    record_event(
        request.ticket,
        actor,
        EventKind.COLLAB_ACCEPTED,
        data=_event_data(request),
        is_internal=True,
        at=now,
    )
    _notify_requesters(
        request,
        actor,
        _("协同请求已受理：%(number)s %(kind)s")
        % {"number": request.ticket.number, "kind": request.get_kind_display()},
    )
    return request


def _close(
    request: CollaborationRequest,
    actor: User,
    status: str,
    event_kind: str,
    *,
    text_field: str,
    text: str,
) -> CollaborationRequest:
    now = timezone.now()
    request.status = status
    request.closed_by = actor
    request.closed_at = now
    setattr(request, text_field, text)
    request.save(update_fields=["status", "closed_by", "closed_at", text_field])
    record_event(
        request.ticket,
        actor,
        event_kind,
        data=_event_data(request, **{text_field: text}),
        is_internal=True,
        at=now,
    )
    return request


def _required(text: str, code: str, message: str) -> str:
    text = clean_text(text)
    if not text:
        raise ValidationFailed(message, code=code)
    return text


@transaction.atomic
def complete_collaboration_request(
    *, actor: User, request: CollaborationRequest, response: str
) -> CollaborationRequest:
    """Answer the request; open or accepted ones may be answered straight away."""
    response = _required(response, "response_required", _("请填写答复内容"))
    request = _locked(request)
    _check_active(request, allow=ACTIVE_REQUEST_STATUS_VALUES)
    _close(
        request,
        actor,
        RequestStatus.DONE,
        EventKind.COLLAB_DONE,
        text_field="response",
        text=response,
    )
    _notify_requesters(
        request,
        actor,
        _("协同请求已完成：%(number)s %(kind)s")
        % {"number": request.ticket.number, "kind": request.get_kind_display()},
        response,
    )
    return request


@transaction.atomic
def decline_collaboration_request(
    *, actor: User, request: CollaborationRequest, reason: str
) -> CollaborationRequest:
    reason = _required(reason, "reason_required", _("请填写拒绝原因"))
    request = _locked(request)
    _check_active(request, allow=ACTIVE_REQUEST_STATUS_VALUES)
    _close(
        request,
        actor,
        RequestStatus.DECLINED,
        EventKind.COLLAB_DECLINED,
        text_field="decline_reason",
        text=reason,
    )
    _notify_requesters(
        request,
        actor,
        _("协同请求被拒绝：%(number)s %(kind)s")
        % {"number": request.ticket.number, "kind": request.get_kind_display()},
        reason,
    )
    return request


@transaction.atomic
def cancel_collaboration_request(
    *, actor: User, request: CollaborationRequest, reason: str = ""
) -> CollaborationRequest:
    request = _locked(request)
    _check_active(request, allow=ACTIVE_REQUEST_STATUS_VALUES)
    # Whoever already works on it hears of the cancellation; otherwise everyone who was asked.
    told = [request.accepted_by] if request.accepted_by else target_users(request)
    _close(
        request,
        actor,
        RequestStatus.CANCELLED,
        EventKind.COLLAB_CANCELLED,
        text_field="cancel_reason",
        text=clean_text(reason),
    )
    notify_many(
        [
            Message(
                users=[u for u in told if u is not None and u.pk != actor.pk],
                kind=NOTIFICATION_KIND,
                title=_("协同请求已取消：%(number)s %(kind)s")
                % {"number": request.ticket.number, "kind": request.get_kind_display()},
                body=request.cancel_reason,
                ticket=request.ticket,
            )
        ]
    )
    return request


def active_requests(ticket: Ticket) -> QuerySet:
    return CollaborationRequest.objects.filter(
        ticket=ticket, status__in=ACTIVE_REQUEST_STATUS_VALUES
    )


def check_resolution_allowed(
    *,
    actor: User | None,
    ticket: Ticket,
    to_status: str,
    override: bool,
    reason: str,
    at: dt.datetime,
) -> None:
    """Called by tickets.services.transition_ticket, in its transaction, with the ticket
    locked, before a ticket is resolved or closed. Open requests refuse the move unless a lead
    of the ticket's team or an admin overrides with a reason; the override goes on the
    timeline. Closing a ticket already resolved is not blocked again: whoever resolved it
    decided about its requests then."""
    if ticket.status not in OPEN_STATUSES:
        return
    open_ids = list(active_requests(ticket).order_by("id").values_list("id", flat=True))
    if not open_ids:
        return
    if not override:
        customer = actor is not None and actor.is_customer
        raise Conflict(
            _("工单还有 %(count)s 个未完成的协同请求，不能解决或关闭") % {"count": len(open_ids)},
            code="open_collaboration_requests",
            # Requests are internal: a customer closing their ticket learns no ids.
            details=None if customer else {"request_ids": open_ids},
        )
    if not can_override_open_requests(actor, ticket):
        raise Forbidden(
            _("只有本组主管或管理员可以在协同请求未完成时解决工单"), code="override_refused"
        )
    if not reason.strip():
        raise ValidationFailed(_("强制解决需要填写原因"), code="override_reason_required")
    record_event(
        ticket,
        actor,
        EventKind.COLLAB_OVERRIDDEN,
        data={"request_ids": open_ids, "reason": reason.strip(), "to_status": to_status},
        is_internal=True,
        at=at,
    )


def _sweep(
    *,
    now: dt.datetime,
    due_field: str,
    mark_field: str,
    event_kind: str,
    notification_kind: str,
    title: str,
    leads_only: bool,
) -> int:
    """Claim every active request whose `due_field` has passed and `mark_field` is unset, one
    conditional update each, so that concurrent or repeated sweeps never fire twice."""
    conditions = {
        "status__in": ACTIVE_REQUEST_STATUS_VALUES,
        # No warning for a request already overdue.
        "overdue_at__isnull": True,
        f"{mark_field}__isnull": True,
        f"{due_field}__lte": now,
    }
    pending = CollaborationRequest.objects.filter(**conditions)
    due_ids = list(pending.order_by(due_field, "id").values_list("id", flat=True)[:1000])
    fired = 0
    for request_id in due_ids:
        with transaction.atomic():
            if not pending.filter(pk=request_id).update(**{mark_field: now}):
                continue
            request = CollaborationRequest.objects.select_related(
                "ticket", "target_user", "accepted_by"
            ).get(pk=request_id)
            record_event(
                request.ticket,
                None,
                event_kind,
                data=_event_data(request, due_at=request.due_at.isoformat()),
                is_internal=True,
                at=now,
            )
            told = target_users(request, leads_only=leads_only)
            if request.accepted_by is not None:
                told.append(request.accepted_by)
            names = {"number": request.ticket.number, "kind": request.get_kind_display()}
            notify_many(
                [
                    Message(
                        users=told,
                        kind=notification_kind,
                        title=title % names,
                        body=request.question,
                        ticket=request.ticket,
                    )
                ]
            )
            fired += 1
    return fired


def warn_due_requests(now: dt.datetime | None = None) -> int:
    """Warn the people asked (or the accepter) once a request's warning time has passed."""
    return _sweep(
        now=now or timezone.now(),
        due_field="warn_at",
        mark_field="warned_at",
        event_kind=EventKind.COLLAB_WARNING,
        notification_kind=WARNING_NOTIFICATION_KIND,
        title=_("协同请求即将超时：%(number)s %(kind)s"),
        leads_only=False,
    )


def mark_overdue_requests(now: dt.datetime | None = None) -> int:
    """Mark every active request past its due time as overdue, once, and tell the target
    side's leads (and the person named, and the accepter)."""
    return _sweep(
        now=now or timezone.now(),
        due_field="due_at",
        mark_field="overdue_at",
        event_kind=EventKind.COLLAB_OVERDUE,
        notification_kind=OVERDUE_NOTIFICATION_KIND,
        title=_("协同请求已超时：%(number)s %(kind)s"),
        leads_only=True,
    )
