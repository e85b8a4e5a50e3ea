import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from aftercare.accounts.choices import Department, Role
from aftercare.accounts.models import Team
from aftercare.collab import requests
from aftercare.collab.choices import RequestStatus
from aftercare.collab.models import CollaborationRequest, Notification
from aftercare.collab.tasks import mark_overdue_collaboration_requests
from aftercare.conftest import make_user
from aftercare.core.errors import Conflict, Forbidden, ValidationFailed
from aftercare.tickets import services as ticket_services
from aftercare.tickets.models import Ticket, TicketEvent

from .factories import at, open_team_ticket

pytestmark = pytest.mark.django_db


def ask(personas, ticket, **kwargs):
    fields = {
        "actor": personas.agnes,
        "ticket": ticket,
        "kind": "diagnose",
        "question": "请远程诊断压缩机是否损坏",
        "target_department": Department.TECH_SUPPORT,
        **kwargs,
    }
    return requests.request_collaboration(**fields)


def test_default_due_time_is_the_kind_ola_in_business_hours(personas):
    ticket = open_team_ticket(personas)
    # Thursday 10:00 + 4 business hours on cn-workday (9:00–18:00) = 14:00 the same day.
    same_day = ask(personas, ticket, now=at(2026, 11, 26, 10, 0))
    assert (same_day.due_at, same_day.ola_minutes) == (at(2026, 11, 26, 14, 0), 240)
    # Friday 16:00: two hours on Friday, two on Monday.
    over_weekend = ask(personas, ticket, now=at(2026, 11, 27, 16, 0))
    assert over_weekend.due_at == at(2026, 11, 30, 11, 0)
    # A refund approval takes two working days (18 business hours).
    refund = ask(personas, ticket, kind="refund_approval", now=at(2026, 11, 26, 10, 0))
    assert refund.due_at == at(2026, 11, 30, 10, 0)


def test_request_writes_event_and_notifies_the_department(personas):
    ticket = open_team_ticket(personas)
    request = ask(personas, ticket)
    assert request.status == RequestStatus.OPEN
    assert (request.requested_by, request.requesting_team) == (personas.agnes, personas.team_a)
    event = TicketEvent.objects.get(ticket=ticket, kind="collab_requested")
    assert event.is_internal is True
    assert event.data["request_id"] == request.pk
    assert event.data["target_department"] == "tech_support"
    notified = Notification.objects.filter(kind="collab_request")
    assert [n.user for n in notified] == [personas.bert]
    assert notified[0].ticket == ticket


@pytest.mark.parametrize(
    "fields,code",
    [
        ({"target_department": "marketing"}, "department_not_found"),
        ({"target_department": Department.FINANCE}, "department_has_no_team"),
        ({"question": "   "}, "question_required"),
        ({"due_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "due_in_past"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(personas, fields, code):
    ticket = open_team_ticket(personas)
    events = TicketEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        ask(personas, ticket, **fields)
    assert refused.value.code == code
    assert CollaborationRequest.objects.count() == 0
    assert TicketEvent.objects.count() == events
    assert Notification.objects.count() == 0


def test_team_and_person_must_belong_to_the_department(personas):
    ticket = open_team_ticket(personas)
    with pytest.raises(ValidationFailed) as refused:
        ask(personas, ticket, target_team=personas.team_a)
    assert refused.value.code == "team_not_in_department"
    with pytest.raises(ValidationFailed) as refused:
        ask(personas, ticket, target_user=personas.agnes)
    assert refused.value.code == "user_not_in_department"
    with pytest.raises(ValidationFailed) as refused:
        ask(personas, ticket, target_user=personas.alice)
    assert refused.value.code == "user_not_staff"
    person = ask(personas, ticket, target_team=personas.team_b, target_user=personas.bert)
    assert person.target_user == personas.bert


def test_explicit_due_time_is_kept(personas):
    ticket = open_team_ticket(personas)
    due = timezone.now() + dt.timedelta(hours=30)
    request = ask(personas, ticket, due_at=due)
    assert (request.due_at, request.ola_minutes) == (due, None)


def test_lifecycle_accept_complete_and_errors(personas):
    ticket = open_team_ticket(personas)
    request = ask(personas, ticket)
    accepted = requests.accept_collaboration_request(actor=personas.bert, request=request)
    assert (accepted.status, accepted.accepted_by) == (RequestStatus.ACCEPTED, personas.bert)
    with pytest.raises(Conflict) as twice:
        requests.accept_collaboration_request(actor=personas.bert, request=request)
    assert twice.value.code == "request_already_accepted"
    with pytest.raises(ValidationFailed) as empty:
        requests.complete_collaboration_request(actor=personas.bert, request=request, response="")
    assert empty.value.code == "response_required"
    done = requests.complete_collaboration_request(
        actor=personas.bert, request=request, response="压缩机正常，是缺氟"
    )
    assert (done.status, done.response, done.closed_by) == (
        "done",
        "压缩机正常，是缺氟",
        personas.bert,
    )
    with pytest.raises(Conflict) as closed:
        requests.decline_collaboration_request(actor=personas.bert, request=request, reason="x")
    assert closed.value.code == "request_closed"
    kinds = list(
        TicketEvent.objects.filter(ticket=ticket, kind__startswith="collab_")
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["collab_requested", "collab_accepted", "collab_done"]
    # The requester hears of the acceptance and of the answer.
    titles = list(
        Notification.objects.filter(user=personas.agnes)
        .order_by("id")
        .values_list("title", flat=True)
    )
    assert titles == [
        f"协同请求已受理：{ticket.number} 技术诊断",
        f"协同请求已完成：{ticket.number} 技术诊断",
    ]


def test_decline_needs_reason_and_cancel_tells_the_accepter(personas):
    ticket = open_team_ticket(personas)
    declined = ask(personas, ticket)
    with pytest.raises(ValidationFailed) as no_reason:
        requests.decline_collaboration_request(actor=personas.bert, request=declined, reason=" ")
    assert no_reason.value.code == "reason_required"
    declined = requests.decline_collaboration_request(
        actor=personas.bert, request=declined, reason="不属于技术问题"
    )
    assert (declined.status, declined.decline_reason) == ("declined", "不属于技术问题")
    cancelled = ask(personas, ticket)
    requests.accept_collaboration_request(actor=personas.bert, request=cancelled)
    Notification.objects.all().delete()
    cancelled = requests.cancel_collaboration_request(
        actor=personas.agnes, request=cancelled, reason="客户已自行解决"
    )
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "客户已自行解决")
    assert list(Notification.objects.values_list("user__username", flat=True)) == ["bert"]


def test_no_request_on_a_resolved_ticket(personas):
    ticket = open_team_ticket(personas)
    ticket_services.transition_ticket(actor=personas.agnes, ticket=ticket, to_status="resolved")
    with pytest.raises(Conflict) as refused:
        ask(personas, ticket)
    assert refused.value.code == "ticket_not_open"


def test_open_requests_block_resolving_unless_a_lead_overrides(personas):
    ticket = open_team_ticket(personas)
    request = ask(personas, ticket)
    with pytest.raises(Conflict) as blocked:
        ticket_services.transition_ticket(actor=personas.agnes, ticket=ticket, to_status="resolved")
    assert blocked.value.code == "open_collaboration_requests"
    assert blocked.value.details == {"request_ids": [request.pk]}
    with pytest.raises(Forbidden) as not_lead:
        ticket_services.transition_ticket(
            actor=personas.agnes,
            ticket=ticket,
            to_status="closed",
            reason="客户不再需要",
            override_open_requests=True,
        )
    assert not_lead.value.code == "override_refused"
    with pytest.raises(ValidationFailed) as no_reason:
        ticket_services.transition_ticket(
            actor=personas.lena, ticket=ticket, to_status="resolved", override_open_requests=True
        )
    assert no_reason.value.code == "override_reason_required"
    assert Ticket.objects.get(pk=ticket.pk).status == "new"
    assert not TicketEvent.objects.filter(ticket=ticket, kind="collab_overridden").exists()
    ticket_services.transition_ticket(
        actor=personas.lena,
        ticket=ticket,
        to_status="resolved",
        reason="客户已同意更换整机",
        override_open_requests=True,
    )
    assert Ticket.objects.get(pk=ticket.pk).status == "resolved"
    override = TicketEvent.objects.get(ticket=ticket, kind="collab_overridden")
    assert (override.actor, override.data) == (
        personas.lena,
        {"request_ids": [request.pk], "reason": "客户已同意更换整机", "to_status": "resolved"},
    )
    # Closing the resolved ticket later is not blocked again; the request stays open.
    ticket_services.transition_ticket(actor=personas.agnes, ticket=ticket, to_status="closed")
    assert Ticket.objects.get(pk=ticket.pk).status == "closed"
    assert CollaborationRequest.objects.get(pk=request.pk).status == "open"


def test_customer_closing_is_blocked_without_learning_request_ids(personas):
    ticket = open_team_ticket(personas)
    ask(personas, ticket)
    with pytest.raises(Conflict) as blocked:
        ticket_services.transition_ticket(actor=personas.alice, ticket=ticket, to_status="closed")
    assert (blocked.value.code, blocked.value.details) == ("open_collaboration_requests", None)


def test_answered_requests_do_not_block(personas):
    ticket = open_team_ticket(personas)
    request = ask(personas, ticket)
    requests.complete_collaboration_request(actor=personas.bert, request=request, response="好")
    ticket_services.transition_ticket(actor=personas.agnes, ticket=ticket, to_status="resolved")
    assert Ticket.objects.get(pk=ticket.pk).status == "resolved"


def test_warning_sweep_warns_the_people_asked_once(personas):
    ticket = open_team_ticket(personas)
    # Due 14:00 (4 business hours from 10:00); warned after three of them, at 13:00.
    request = ask(personas, ticket, now=at(2026, 11, 26, 10, 0))
    assert request.warn_at == at(2026, 11, 26, 13, 0)
    # Asked on Friday 17:00, due Monday 12:00: three quarters of it fall on Monday 11:00.
    friday = ask(personas, ticket, now=at(2026, 11, 27, 17, 0))
    assert (friday.due_at, friday.warn_at) == (at(2026, 11, 30, 12, 0), at(2026, 11, 30, 11, 0))
    Notification.objects.all().delete()
    assert requests.warn_due_requests(at(2026, 11, 26, 12, 59)) == 0
    assert requests.warn_due_requests(at(2026, 11, 26, 13, 0)) == 1
    assert requests.warn_due_requests(at(2026, 11, 26, 13, 1)) == 0
    request.refresh_from_db()
    assert (request.warned_at, request.overdue_at) == (at(2026, 11, 26, 13, 0), None)
    assert [(n.user, n.kind) for n in Notification.objects.all()] == [
        (personas.bert, "collab_warning")
    ]
    assert TicketEvent.objects.filter(ticket=ticket, kind="collab_warning").count() == 1


def test_a_request_found_past_due_is_marked_overdue_not_warned(personas):
    ticket = open_team_ticket(personas)
    ask(personas, ticket, now=at(2026, 11, 26, 10, 0))
    assert requests.mark_overdue_requests(at(2026, 11, 26, 16, 0)) == 1
    assert requests.warn_due_requests(at(2026, 11, 26, 16, 0)) == 0
    kinds = TicketEvent.objects.filter(ticket=ticket, kind__in=["collab_warning", "collab_overdue"])
    assert list(kinds.values_list("kind", flat=True)) == ["collab_overdue"]


def test_overdue_sweep_marks_once_and_tells_the_target_leads(personas):
    lead_b = make_user("bora", Role.TEAM_LEAD, teams=[personas.team_b], lead=True)
    ticket = open_team_ticket(personas)
    late = ask(personas, ticket, now=at(2026, 11, 26, 10, 0))  # due 14:00
    on_time = ask(personas, ticket, now=at(2026, 11, 26, 13, 0))  # due 17:00
    answered = ask(personas, ticket, now=at(2026, 11, 26, 9, 0))
    requests.complete_collaboration_request(actor=personas.bert, request=answered, response="好")
    Notification.objects.all().delete()
    assert requests.mark_overdue_requests(at(2026, 11, 26, 15, 0)) == 1
    assert requests.mark_overdue_requests(at(2026, 11, 26, 15, 1)) == 0
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert (late.overdue_at, on_time.overdue_at) == (at(2026, 11, 26, 15, 0), None)
    assert TicketEvent.objects.filter(ticket=ticket, kind="collab_overdue").count() == 1
    told = Notification.objects.filter(kind="collab_overdue")
    assert [n.user for n in told] == [lead_b]
    # The periodic task runs on the real clock: by now both are long past due.
    assert mark_overdue_collaboration_requests.call_local() == 1
    assert mark_overdue_collaboration_requests.call_local() == 0
    on_time.refresh_from_db()
    assert on_time.overdue_at is not None


def test_request_to_a_whole_department_reaches_all_its_teams(personas):
    second = Team.objects.create(name="技术支持二组", slug="tech-2", department="tech_support")
    carl = make_user("carl", Role.SUPPORT_ENGINEER, teams=[second])
    ticket = open_team_ticket(personas)
    ask(personas, ticket)
    users = set(Notification.objects.values_list("user__username", flat=True))
    assert users == {"bert", "carl"}
    assert carl.is_active


def test_notifications_are_emailed_after_commit(personas, django_capture_on_commit_callbacks):
    ticket = open_team_ticket(personas)
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        ask(personas, ticket)
    sent = [(m.to, m.subject) for m in mail.outbox]
    assert sent == [(["bert@example.com"], f"技术支持收到协同请求：{ticket.number} 技术诊断")]
    assert Notification.objects.get(user=personas.bert).emailed_at is not None
