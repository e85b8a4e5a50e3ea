"""SLA clocks driven through the ticket services, with time travel. Default policies:
urgent 2 h first response on 24x7; regular 12 business hours on cn-workday (Mon–Fri 9–18,
Chinese holidays); complex resolution 48 business hours."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from aftercare.collab.models import Notification
from aftercare.sla import engine
from aftercare.sla.choices import ClockState
from aftercare.sla.models import SlaClock
from aftercare.tickets import services
from aftercare.tickets.models import Ticket

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def clock(ticket, metric) -> SlaClock:
    return SlaClock.objects.filter(ticket=ticket, metric=metric).latest("id")


@pytest.fixture
def open_regular(personas):
    def make(priority="regular", when=None):
        with time_machine.travel(when or at(2026, 11, 26, 10, 0), tick=False):
            return services.open_ticket(
                actor=personas.agnes,
                kind="repair",
                channel="phone",
                subject="冰箱不制冷",
                customer=personas.alice_customer,
                team=personas.team_a,
                priority=priority,
            )

    return make


def test_regular_first_response_is_12_business_hours(open_regular):
    ticket = open_regular()
    first = clock(ticket, "first_response")
    # Thu 10:00 → 8 h that day, 4 h on Friday.
    assert first.due_at == at(2026, 11, 27, 13, 0)
    assert first.next_event_at == at(2026, 11, 27, 10, 0)  # 75 % = 9 h
    assert Ticket.objects.get(pk=ticket.pk).due_at == at(2026, 11, 27, 13, 0)
    resolution = clock(ticket, "resolution")
    assert resolution.due_at == at(2026, 12, 3, 10, 0)  # 45 business hours later


def test_first_response_over_national_day(open_regular):
    ticket = open_regular(when=at(2026, 9, 30, 17, 0))
    assert clock(ticket, "first_response").due_at == at(2026, 10, 9, 11, 0)


def test_internal_note_and_acknowledgement_are_not_responses(personas, open_regular):
    ticket = open_regular()
    with time_machine.travel(at(2026, 11, 26, 11, 0), tick=False):
        services.add_message(
            actor=personas.agnes, ticket=ticket, text="内部", visibility="internal"
        )
        services.add_message(actor=None, ticket=ticket, text="已受理", is_automatic=True)
    assert clock(ticket, "first_response").state == ClockState.RUNNING
    with time_machine.travel(at(2026, 11, 26, 11, 30), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="您好，我们已安排")
    first = clock(ticket, "first_response")
    assert (first.state, first.met_at, first.used_seconds) == (
        ClockState.MET,
        at(2026, 11, 26, 11, 30),
        90 * 60,
    )


def test_customer_message_starts_next_response(personas, open_regular):
    ticket = open_regular()
    with time_machine.travel(at(2026, 11, 26, 11, 0), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="请提供照片")
    with time_machine.travel(at(2026, 11, 26, 17, 0), tick=False):
        services.add_message(actor=personas.alice, ticket=ticket, text="照片已上传")
    # 1 h on Thursday, 9 h on Friday, 2 h on Monday.
    assert clock(ticket, "next_response").due_at == at(2026, 11, 30, 11, 0)


def test_pending_customer_pauses_and_resumes(personas, open_regular):
    ticket = open_regular()
    with time_machine.travel(at(2026, 11, 26, 14, 0), tick=False):
        services.transition_ticket(
            actor=personas.agnes, ticket=ticket, to_status="pending_customer"
        )
    paused = clock(ticket, "resolution")
    assert (paused.state, paused.used_seconds, paused.next_event_at) == (
        ClockState.PAUSED,
        4 * 3600,
        None,
    )
    with time_machine.travel(at(2026, 11, 30, 10, 0), tick=False):  # Monday
        services.add_message(actor=personas.alice, ticket=ticket, text="我回来了")
    resumed = clock(ticket, "resolution")
    assert resumed.state == ClockState.RUNNING
    # 4 h used; 41 h left from Monday 10:00 → Friday 4 Dec 15:00.
    assert resumed.due_at == at(2026, 12, 4, 15, 0)


def test_priority_change_reevaluates_but_keeps_breached(personas, open_regular):
    ticket = open_regular(priority="urgent")
    assert clock(ticket, "first_response").due_at == at(2026, 11, 26, 12, 0)
    engine.sweep(now=at(2026, 11, 26, 12, 30))
    breached = clock(ticket, "first_response")
    assert breached.breached_at == at(2026, 11, 26, 12, 0)
    with time_machine.travel(at(2026, 11, 26, 13, 0), tick=False):
        services.update_ticket(actor=personas.lena, ticket=ticket, changes={"priority": "complex"})
    # The breached first-response promise is never rewritten; resolution moved to 48 h.
    assert clock(ticket, "first_response").pk == breached.pk
    assert clock(ticket, "first_response").breached_at == at(2026, 11, 26, 12, 0)
    resolution = clock(ticket, "resolution")
    assert (resolution.target_minutes, resolution.started_at) == (48 * 60, at(2026, 11, 26, 10))
    assert SlaClock.objects.filter(ticket=ticket, state=ClockState.SUPERSEDED).count() == 1


def test_resolve_meets_and_reopen_restarts_resolution(personas, open_regular):
    ticket = open_regular()
    with time_machine.travel(at(2026, 11, 27, 9, 0), tick=False):
        services.transition_ticket(actor=personas.agnes, ticket=ticket, to_status="resolved")
    assert clock(ticket, "resolution").state == ClockState.MET
    assert clock(ticket, "first_response").state == ClockState.CANCELLED
    with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False):
        services.transition_ticket(actor=personas.alice, ticket=ticket, to_status="open")
    restarted = clock(ticket, "resolution")
    assert (restarted.state, restarted.started_at) == (ClockState.RUNNING, at(2026, 11, 30, 9))


def test_sweep_fires_each_warning_breach_and_escalation_once(
    personas, open_regular, django_capture_on_commit_callbacks
):
    ticket = open_regular(priority="urgent")  # 2 h on 24x7 from 10:00
    ticket.assignee = personas.agnes
    ticket.save(update_fields=["assignee"])
    from aftercare.accounts.models import TeamMembership

    TeamMembership.objects.filter(user=personas.lena).update(is_lead=True)
    with django_capture_on_commit_callbacks(execute=True):
        first = engine.sweep(now=at(2026, 11, 26, 11, 30))  # 75 % of first response
        again = engine.sweep(now=at(2026, 11, 26, 11, 30))
    assert (first.warnings, again.claimed) == (1, 0)
    with django_capture_on_commit_callbacks(execute=True):
        late = engine.sweep(now=at(2026, 11, 26, 23, 0))
    # first response: 90 % warning, breach at 12:00, L1 at once, L2 +2 h, L3 +8 h.
    # resolution (24 h): 75 % warning at 04:00 next day is not due yet.
    assert (late.warnings, late.breaches, late.escalations) == (1, 1, 3)
    kinds = list(ticket.events.filter(kind__startswith="sla_").values_list("kind", "created_at"))
    assert [k for k, _ in kinds].count("sla_warning") == 2
    assert ("sla_breached", at(2026, 11, 26, 12, 0)) in kinds
    assert ("sla_escalated", at(2026, 11, 26, 20, 0)) in kinds
    assert Notification.objects.filter(user=personas.agnes, kind="sla_warning").count() == 2
    assert Notification.objects.filter(user=personas.lena, kind="sla_escalation").count() == 1
    assert len(mail.outbox) == Notification.objects.count()


def test_no_policy_means_no_clock(personas):
    from aftercare.sla.models import SlaPolicy

    SlaPolicy.objects.update(is_active=False)
    engine.forget_rules()
    ticket = services.open_ticket(
        actor=personas.agnes,
        kind="inquiry",
        channel="phone",
        subject="咨询",
        customer=personas.alice_customer,
    )
    assert not SlaClock.objects.filter(ticket=ticket).exists()


def test_ticket_api_shows_sla_and_compliance_report(personas, open_regular, api):
    ticket = open_regular()
    with time_machine.travel(at(2026, 11, 26, 11, 30), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="您好，已安排工程师")
        body = api(personas.agnes).get(f"tickets/{ticket.pk}").json()
        assert api(personas.alice).get(f"tickets/{ticket.pk}").json()["sla"] is None
    by_metric = {s["metric"]: s for s in body["sla"]}
    assert by_metric["first_response"]["state"] == "met"
    resolution = by_metric["resolution"]
    assert (resolution["remaining_minutes"], resolution["calendar"]) == (45 * 60 - 90, "cn-workday")
    report = (
        api(personas.lena)
        .get(
            "sla/compliance",
            {
                "start": "2026-11-01T00:00:00+08:00",
                "end": "2026-12-01T00:00:00+08:00",
                "group_by": "policy",
            },
        )
        .json()
    )
    assert report == [
        {
            "group": "常规",
            "clocks": 1,
            "met": 1,
            "breached": 0,
            "met_percent": 100.0,
            "first_response_median_minutes": 90.0,
            "first_response_p90_minutes": 90.0,
        }
    ]
    refused = api(personas.alice).get(
        "sla/compliance", {"start": "2026-11-01T00:00:00+08:00", "end": "2026-12-01T00:00:00+08:00"}
    )
    assert refused.status_code == 403


def test_queue_filters_by_due_time_and_breach(personas, open_regular, api):
    urgent = open_regular(priority="urgent")
    regular = open_regular()
    engine.sweep(now=at(2026, 11, 26, 12, 30))
    lead = api(personas.lena)

    def ids(**params):
        return [t["id"] for t in lead.get("tickets", params).json()["items"]]

    assert ids(breached=True) == [urgent.pk]
    assert ids(breached=False) == [regular.pk]
    assert ids(due_before="2026-11-26T13:00:00+08:00", ordering="due_at") == [urgent.pk]
    assert ids(open=True, ordering="due_at") == [urgent.pk, regular.pk]


def test_deleted_escalation_level_does_not_block_the_sweeper(personas, open_regular):
    from aftercare.sla.models import EscalationLevel

    ticket = open_regular(priority="urgent")
    engine.sweep(now=at(2026, 11, 26, 14, 30))  # breach, L1 at 12:00, L2 at 14:00
    assert clock(ticket, "first_response").escalation_level == 2
    EscalationLevel.objects.filter(level=3).delete()
    engine.forget_rules()
    result = engine.sweep(now=at(2026, 11, 27, 12, 0))
    first = clock(ticket, "first_response")
    assert (first.escalation_level, first.next_event_at) == (2, None)
    # The resolution clock (due 27 Nov 10:00) still escalates through the remaining levels.
    assert result.escalations == 2
