"""Pages for agents and customers: the ticket list and the ticket page.

They parse input, ask the policy module, call one service and render, like the API does.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aftercare.accounts import policy
from aftercare.accounts.models import Team
from aftercare.catalog.warranty import evaluate_warranty
from aftercare.core.api_support import decode_cursor, encode_cursor
from aftercare.core.errors import DomainError, NotFound
from aftercare.core.http import AuthedRequest
from aftercare.sla.selectors import clock_summary

from . import selectors, services
from .choices import MessageVisibility, Status
from .workflow import TRANSITIONS

PAGE_SIZE = 50


def _visible_or_404(request: AuthedRequest, ticket_id: int):
    try:
        return policy.get_visible_ticket(request.user, ticket_id, selectors.ticket_list_queryset())
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc


@login_required
def ticket_list(request: AuthedRequest) -> HttpResponse:
    user = request.user
    view = request.GET.get("view", "mine" if not user.is_customer else "all")
    filters = selectors.TicketFilters(q=(request.GET.get("q") or "").strip()[:200] or None)
    status = request.GET.get("status")
    if status in Status.values:
        filters.status = [status]
    ordering = "-created_at"
    if not user.is_customer:
        if view == "mine":
            filters.assignee_id, filters.open = user.pk, True
            ordering = "due_at"
        elif view == "team":
            team_id = request.GET.get("team") or next(
                iter(user.memberships.values_list("team_id", flat=True)), None
            )
            if team_id and str(team_id).isdigit():
                filters.team_id, filters.open = int(team_id), True
            ordering = "due_at"
        elif view == "unassigned":
            filters.unassigned, filters.open = True, True
            ordering = "due_at"
    error = None
    rows: list = []
    next_cursor = None
    try:
        cursor = request.GET.get("cursor")
        cursor_values = (
            decode_cursor(cursor, len(selectors.ORDERINGS[ordering][0])) if cursor else None
        )
        rows, next_values = selectors.list_tickets(
            user, filters, ordering=ordering, cursor_values=cursor_values, limit=PAGE_SIZE
        )
        next_cursor = encode_cursor(next_values) if next_values else None
    except DomainError as exc:
        error = exc.message
    teams = Team.objects.filter(memberships__user=user) if not user.is_customer else []
    return render(
        request,
        "tickets/ticket_list.html",
        {
            "tickets": rows,
            "next_cursor": next_cursor,
            "view": view,
            "error": error,
            "q": filters.q or "",
            "status": status or "",
            "statuses": Status.choices,
            "teams": teams,
        },
    )


@login_required
def ticket_detail(request: AuthedRequest, ticket_id: int) -> HttpResponse:
    user = request.user
    ticket = _visible_or_404(request, ticket_id)
    conversation = ticket.messages.select_related("author", "inbound_email").prefetch_related(
        "attachments"
    )
    if not policy.can_see_internal(user):
        conversation = conversation.filter(visibility=MessageVisibility.PUBLIC)
    warranty = None
    if ticket.product_unit is not None:
        warranty = evaluate_warranty(
            purchase_date=ticket.product_unit.purchase_date,
            policy=ticket.product_unit.product.warranty_policy,
            on_date=timezone.localdate(),
        )
    if user.is_customer:
        targets = [
            s
            for s in TRANSITIONS[ticket.status]
            if s == Status.CLOSED or (s == Status.OPEN and ticket.can_reopen())
        ]
    else:
        targets = sorted(TRANSITIONS[ticket.status]) if policy.can_work_ticket(user, ticket) else []
    return render(
        request,
        "tickets/ticket_detail.html",
        {
            "ticket": ticket,
            "conversation": conversation,
            "sla": [] if user.is_customer else clock_summary(list(ticket.sla_clocks.all())),
            "events": selectors.timeline(user, ticket),
            "warranty": warranty,
            "targets": [(s, Status(s).label) for s in targets if not ticket.merged_into_id],
            "can_note": not user.is_customer,
            "can_reply": user.is_customer or policy.can_work_ticket(user, ticket),
        },
    )


@login_required
@require_POST
def ticket_reply(request: AuthedRequest, ticket_id: int) -> HttpResponse:
    user = request.user
    ticket = _visible_or_404(request, ticket_id)
    visibility = request.POST.get("visibility", MessageVisibility.PUBLIC)
    if visibility not in MessageVisibility.values:
        visibility = MessageVisibility.PUBLIC
    try:
        policy.check_message(user, ticket, visibility)
        services.add_message(
            actor=user,
            ticket=ticket,
            text=request.POST.get("text", "")[:100_000],
            visibility=visibility,
            channel="portal" if user.is_customer else "api",
            attachments=request.FILES.getlist("files"),
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("ticket_detail", ticket_id=ticket.pk)


@login_required
@require_POST
def ticket_transition(request: AuthedRequest, ticket_id: int) -> HttpResponse:
    user = request.user
    ticket = _visible_or_404(request, ticket_id)
    to_status = request.POST.get("status", "")
    try:
        policy.check_transition(user, ticket, to_status)
        services.transition_ticket(
            actor=user,
            ticket=ticket,
            to_status=to_status,
            reason=request.POST.get("reason", "")[:500],
        )
        messages.success(request, _("状态已更新"))
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("ticket_detail", ticket_id=ticket.pk)
