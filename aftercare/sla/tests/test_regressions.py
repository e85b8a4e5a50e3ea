"""One scenario per SLA bug reported against other helpdesks, written from the report.
Default policies apply (see test_engine.py); times are Asia/Shanghai."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from aftercare.sla import engine
from aftercare.sla.choices import ClockState
from aftercare.sla.models import BusinessCalendar, SlaClock, SlaPolicy, SlaTarget
from aftercare.tickets import services

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def live(ticket, metric):
    return SlaClock.objects.filter(
        ticket=ticket, metric=metric, state__in=["running", "paused"]
    ).first()


def open_ticket(personas, when, **fields):
    fields = {"priority": "regular", "team": personas.team_a, **fields}
    with time_machine.travel(when, tick=False):
        return services.open_ticket(
            actor=personas.alice,
            kind="repair",
            channel="portal",
            subject="热水器不点火",
            customer=personas.alice_customer,
            **fields,
        )


def test_zammad_5177_update_time_does_not_override_first_response(personas):
    # A next-response (update) target shorter than first response must not replace it while
    # no first response has happened, even when the customer writes again.
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0))
    with time_machine.travel(at(2026, 11, 26, 10, 30), tick=False):
        services.add_message(actor=personas.alice, ticket=ticket, text="补充：显示 E1")
    assert live(ticket, "next_response") is None
    assert live(ticket, "first_response").due_at == at(2026, 11, 27, 13, 0)


def test_zammad_3140_update_time_does_not_escalate_after_agent_response(personas):
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0))
    with time_machine.travel(at(2026, 11, 26, 11, 0), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="请拍一下铭牌")
    with time_machine.travel(at(2026, 11, 26, 12, 0), tick=False):
        services.add_message(actor=personas.alice, ticket=ticket, text="已拍")
    with time_machine.travel(at(2026, 11, 26, 13, 0), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="收到，明天上门")
    result = engine.sweep(now=at(2026, 12, 31, 0, 0))
    assert result.breaches == 1  # only the resolution promise, never the answered update
    assert not SlaClock.objects.filter(
        ticket=ticket, metric="next_response", breached_at__isnull=False
    ).exists()


def test_zammad_5624_update_time_goes_when_new_team_policy_has_none(personas):
    policy = SlaPolicy.objects.create(name="技术支持组", position=1, priorities=[])
    policy.teams.add(personas.team_b)
    SlaTarget.objects.create(
        policy=policy,
        metric="first_response",
        minutes=240,
        calendar=BusinessCalendar.objects.get(slug="cn-workday"),
    )
    engine.forget_rules()
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0))
    with time_machine.travel(at(2026, 11, 26, 11, 0), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="您好")
        services.add_message(actor=personas.alice, ticket=ticket, text="还在等")
    assert live(ticket, "next_response") is not None
    with time_machine.travel(at(2026, 11, 26, 11, 30), tick=False):
        services.update_ticket(
            actor=personas.lena, ticket=ticket, changes={"team": personas.team_b}
        )
    assert live(ticket, "next_response") is None
    assert live(ticket, "resolution") is None


def test_zammad_4353_deactivated_policy_stops_escalating_breached_tickets(personas):
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0), priority="urgent")
    engine.sweep(now=at(2026, 11, 26, 12, 30))
    breached = live(ticket, "first_response")
    assert breached.breached_at == at(2026, 11, 26, 12, 0)
    urgent = SlaPolicy.objects.get(name="紧急")
    urgent.is_active = False
    urgent.save()
    assert engine.reevaluate_policy_tickets(urgent.pk, at(2026, 11, 26, 13, 0)) == 1
    breached.refresh_from_db()
    # The breach stays on record; no more escalations follow.
    assert (breached.state, breached.breached_at) == (ClockState.CANCELLED, at(2026, 11, 26, 12, 0))
    assert engine.sweep(now=at(2026, 11, 27, 12, 0)).escalations == 0
    # The ticket now falls under the next matching policy's… none for urgent: no clocks live.
    assert live(ticket, "resolution") is None


def test_zammad_1322_customer_reply_from_the_portal_restarts_update_time(personas, api):
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0))
    with time_machine.travel(at(2026, 11, 26, 11, 0), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="请确认地址")
        services.transition_ticket(
            actor=personas.agnes, ticket=ticket, to_status="pending_customer"
        )
    with time_machine.travel(at(2026, 11, 26, 15, 0), tick=False):
        response = api(personas.alice).post(
            f"tickets/{ticket.pk}/messages", {"text": "地址是人民路 8 号"}
        )
    assert response.status_code == 201
    ticket.refresh_from_db()
    assert ticket.status == "open"
    # 3 business hours left on Thursday, 9 on Friday.
    assert live(ticket, "next_response").due_at == at(2026, 11, 27, 18, 0)


def test_frappe_hold_time_over_a_holiday_is_not_counted(personas):
    # Frappe Helpdesk added hold time to the creation instant, so tickets held across
    # non-working days got wrong due times (fixed in their PR #2449 for #2075/#2405).
    ticket = open_ticket(personas, at(2026, 9, 29, 10, 0))
    with time_machine.travel(at(2026, 9, 29, 12, 0), tick=False):
        services.transition_ticket(actor=personas.agnes, ticket=ticket, to_status="on_hold")
    with time_machine.travel(at(2026, 10, 3, 10, 0), tick=False):  # National Day holiday
        services.transition_ticket(actor=personas.agnes, ticket=ticket, to_status="open")
    resolution = live(ticket, "resolution")
    assert resolution.used_seconds == 2 * 3600
    # 43 business hours left from a holiday Saturday: 10-08 (Thu) is the first workday.
    assert resolution.due_at == at(2026, 10, 13, 16, 0)


def test_frappe_1554_first_response_survives_a_policy_change(personas):
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0))
    with time_machine.travel(at(2026, 11, 26, 10, 20), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="您好")
    with time_machine.travel(at(2026, 11, 26, 11, 0), tick=False):
        services.update_ticket(actor=personas.lena, ticket=ticket, changes={"priority": "urgent"})
    first = SlaClock.objects.get(ticket=ticket, metric="first_response")
    assert (first.state, first.met_at) == (ClockState.MET, at(2026, 11, 26, 10, 20))


def _office(weekly):
    from aftercare.sla.business_time import BusinessClock, CalendarSpec

    return BusinessClock(CalendarSpec("Asia/Shanghai", weekly=weekly))


def test_chatwoot_14009_lunch_break_is_outside_business_hours():
    t = dt.time
    clock = _office({d: [(t(8), t(12)), (t(13, 30), t(18))] for d in range(5)})
    assert not clock.is_working(at(2026, 11, 26, 12, 30))
    assert clock.is_working(at(2026, 11, 26, 13, 30))
    # A message at 12:30 with a 1-hour first response is due at 14:30, not 13:30.
    assert clock.add_minutes(at(2026, 11, 26, 12, 30), 60) == at(2026, 11, 26, 14, 30)


def test_osticket_6739_schedule_with_only_tuesday():
    t = dt.time
    clock = _office({1: [(t(8), t(17))]})
    # Tuesday 16:00 + 10 h: 1 h this Tuesday, 9 h next Tuesday.
    assert clock.add_minutes(at(2026, 11, 24, 16, 0), 600) == at(2026, 12, 1, 17, 0)
    assert clock.elapsed_minutes(at(2026, 11, 25, 0, 0), at(2026, 11, 30, 23, 59)) == 0


def test_chatwoot_resolving_stops_the_next_response_clock(personas):
    # Chatwoot #10178: the next-response clock kept counting after the conversation was
    # resolved when the customer had the last word.
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0))
    with time_machine.travel(at(2026, 11, 26, 11, 0), tick=False):
        services.add_message(actor=personas.agnes, ticket=ticket, text="已修好")
        services.add_message(actor=personas.alice, ticket=ticket, text="谢谢，再见")
        services.transition_ticket(actor=personas.agnes, ticket=ticket, to_status="resolved")
    assert live(ticket, "next_response") is None
    assert engine.sweep(now=at(2027, 1, 1, 0, 0)).breaches == 0
