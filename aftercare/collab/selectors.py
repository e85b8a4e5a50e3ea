"""Collaboration reads shared by the API and pages."""

from dataclasses import dataclass

from django.db.models import QuerySet

from aftercare.accounts import policy
from aftercare.accounts.models import User

from .models import CollaborationRequest


@dataclass
class RequestFilters:
    department: str | None = None
    status: list[str] | None = None
    team_id: int | None = None
    ticket_id: int | None = None
    # Only requests whose target is the user, their team or their department.
    mine: bool = False
    overdue: bool | None = None


def request_queryset() -> QuerySet:
    return CollaborationRequest.objects.select_related(
        "ticket",
        "requested_by",
        "requesting_team",
        "target_team",
        "target_user",
        "accepted_by",
        "closed_by",
    )


def list_requests(user: User, filters: RequestFilters) -> QuerySet:
    """A department's queue: the requests the user may see, most urgent first."""
    qs = policy.visible_collaboration_requests(user, request_queryset())
    if filters.mine:
        qs = qs.filter(pk__in=policy.collaboration_requests_for(user).values("pk"))
    if filters.department:
        qs = qs.filter(target_department=filters.department)
    if filters.status:
        qs = qs.filter(status__in=filters.status)
    if filters.team_id is not None:
        qs = qs.filter(target_team_id=filters.team_id)
    if filters.ticket_id is not None:
        qs = qs.filter(ticket_id=filters.ticket_id)
    if filters.overdue is not None:
        qs = qs.filter(overdue_at__isnull=not filters.overdue)
    return qs.order_by("due_at", "id")
