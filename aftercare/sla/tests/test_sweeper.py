"""The set-based sweeper: many clocks in one batch give exactly what sweeping them one at a time
gives, catching up gives what sweeping as time goes gives, recipients follow the rules of each
level, and two sweepers running at once never fire anything twice. Default policies (see
test_engine.py); times are Asia/Shanghai."""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction

from aftercare.accounts.choices import Role
from aftercare.accounts.models import TeamMembership, User
from aftercare.collab.models import Notification
from aftercare.collab.services import Notice, notify_each
from aftercare.sla import engine, sweeper
from aftercare.sla.models import EscalationLevel, SlaClock
from aftercare.tickets import services
from aftercare.tickets.models import Ticket, TicketEvent

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def open_ticket(personas, when, assignee=None, **fields):
    fields = {"priority": "regular", "team": personas.team_a, **fields}
    with time_machine.travel(when, tick=False):
        ticket = services.open_ticket(
            actor=personas.agnes,
            kind="repair",
            channel="phone",
            subject="洗衣机漏水",
            customer=personas.alice_customer,
            **fields,
        )
    if assignee is not None:
        # Straight to the row: the services would (rightly) refuse an inactive assignee.
        Ticket.objects.filter(pk=ticket.pk).update(assignee=assignee)
        ticket.assignee = assignee
    return ticket


def make_world(personas) -> list[Ticket]:
    """Tickets of every tier, with and without assignee (one inactive), in a team with a lead,
    a team without one and no team; some answered, some waiting on the customer. Opened a
    minute apart so no two clocks share an instant."""
    gone = User.objects.create_user(username="gone", role=Role.AGENT, is_active=False)
    assignees = [None, personas.agnes, gone, personas.bert]
    teams = [personas.team_a, personas.team_b, None]
    tickets = []
    for i in range(24):
        when = at(2026, 11, 26, 9, 0) + dt.timedelta(minutes=7 * i + i % 5)
        ticket = open_ticket(
            personas,
            when,
            priority=["urgent", "regular", "complex"][i % 3],
            team=teams[i % 3],
            assignee=assignees[i % 4],
        )
        if i % 5 == 1:
            with time_machine.travel(when + dt.timedelta(minutes=30), tick=False):
                services.add_message(actor=personas.agnes, ticket=ticket, text="您好，已收到")
            with time_machine.travel(when + dt.timedelta(minutes=50), tick=False):
                services.add_message(actor=personas.alice, ticket=ticket, text="还是漏水")
        if i % 7 == 3:
            with time_machine.travel(when + dt.timedelta(minutes=40), tick=False):
                services.transition_ticket(
                    actor=personas.agnes, ticket=ticket, to_status="pending_customer"
                )
        tickets.append(ticket)
    return tickets


def outcome(tickets: list[Ticket]) -> dict:
    """Everything a sweep writes, in an order that does not depend on how it was batched."""
    ids = [t.pk for t in tickets]
    return {
        "events": sorted(
            TicketEvent.objects.filter(ticket_id__in=ids, kind__startswith="sla_")
            .exclude(kind="sla_applied")
            .values_list("ticket_id", "kind", "created_at", "data", "actor_id", "is_internal"),
            key=repr,
        ),
        "notifications": sorted(
            Notification.objects.filter(ticket_id__in=ids).values_list(
                "user_id", "ticket_id", "kind", "title", "body", "read_at"
            ),
            key=repr,
        ),
        "clocks": list(
            SlaClock.objects.filter(ticket_id__in=ids)
            .order_by("id")
            .values_list(
                "id",
                "state",
                "warnings_fired",
                "breached_at",
                "escalation_level",
                "next_event_at",
                "due_at",
            )
        ),
        "tickets": list(
            Ticket.objects.filter(pk__in=ids)
            .order_by("id")
            .values_list("id", "priority", "team_id")
        ),
    }


def swept(tickets, sweeps) -> tuple[dict, list[sweeper.SweepResult]]:
    """Run the sweeps, read what they wrote, and roll it all back."""
    with transaction.atomic():
        results = [sweep() for sweep in sweeps]
        seen = outcome(tickets)
        transaction.set_rollback(True)
    return seen, results


def total(results) -> tuple[int, int, int, int]:
    return tuple(
        sum(getattr(r, f) for r in results)
        for f in ("claimed", "warnings", "breaches", "escalations")
    )


def test_one_batch_fires_exactly_what_one_clock_at_a_time_fires(personas):
    # L2 names two people (one inactive); L3 raises the priority and moves the ticket to the
    # team without a lead, so later notifications of that ticket go to the admins.
    gone_manager = User.objects.create_user(
        username="gone-manager", role=Role.TEAM_LEAD, is_active=False
    )
    EscalationLevel.objects.get(level=2).notify_users.set([personas.bert, gone_manager])
    EscalationLevel.objects.filter(level=3).update(
        raise_priority_to="urgent", move_to_team=personas.team_b
    )
    engine.forget_rules()
    tickets = make_world(personas)
    end = at(2026, 12, 2, 15, 0)

    together, results_together = swept(tickets, [lambda: engine.sweep(now=end)])
    one_by_one, results_one = swept(tickets, [lambda: engine.sweep(now=end, batch=1)])

    assert together == one_by_one
    assert total(results_together) == total(results_one)
    claimed, warnings, breaches, escalations = total(results_together)
    events = together["events"]
    assert [e[1] for e in events].count("sla_warning") == warnings > 0
    assert [e[1] for e in events].count("sla_breached") == breaches > 0
    assert [e[1] for e in events].count("sla_escalated") == escalations > 0
    assert claimed == len({c[0] for c in together["clocks"] if c[2] or c[4] or c[3]})
    moved = [e for e in events if "team" in e[3]]
    assert moved and all(e[3]["team"][1] == personas.team_b.pk for e in moved)
    assert {t[1:] for t in together["tickets"] if t[0] in {e[0] for e in moved}} == {
        ("urgent", personas.team_b.pk)
    }
    users = {n[0] for n in together["notifications"]}
    assert gone_manager.pk not in users
    assert not User.objects.filter(pk__in=users, is_active=False).exists()


def test_catching_up_fires_what_sweeping_as_time_goes_fires(personas):
    tickets = make_world(personas)
    start, end = at(2026, 11, 26, 9, 0), at(2026, 12, 2, 15, 0)
    instants = []
    moment = start
    while moment < end:
        moment += dt.timedelta(minutes=40)
        instants.append(min(moment, end))

    at_once, _ = swept(tickets, [lambda: engine.sweep(now=end)])
    as_it_goes, results = swept(
        tickets, [lambda m=m: engine.sweep(now=m, batch=7) for m in instants]
    )

    assert at_once == as_it_goes
    assert total(results)[1:] == (
        [e[1] for e in at_once["events"]].count("sla_warning"),
        [e[1] for e in at_once["events"]].count("sla_breached"),
        [e[1] for e in at_once["events"]].count("sla_escalated"),
    )


def test_warning_recipients(personas):
    gone = User.objects.create_user(username="gone", role=Role.AGENT, is_active=False)
    TeamMembership.objects.create(team=personas.team_a, user=gone, is_lead=True)
    assigned = open_ticket(personas, at(2026, 11, 26, 10, 0), assignee=personas.agnes)
    inactive = open_ticket(personas, at(2026, 11, 26, 10, 1), assignee=gone)
    unassigned = open_ticket(personas, at(2026, 11, 26, 10, 2))
    no_lead = open_ticket(personas, at(2026, 11, 26, 10, 3), team=personas.team_b)
    result = engine.sweep(now=at(2026, 11, 27, 10, 30))  # 75 % of 12 business hours
    assert (result.claimed, result.warnings) == (4, 4)

    def notified(ticket):
        return list(
            Notification.objects.filter(ticket=ticket, kind="sla_warning").values_list(
                "user__username", "title"
            )
        )

    number = assigned.number
    assert notified(assigned) == [("agnes", f"[{number}] 首次响应 已用去 75%，截止 11-27 13:00")]
    # An inactive assignee is not replaced by the lead; nobody hears, the timeline has it.
    assert notified(inactive) == []
    assert inactive.events.filter(kind="sla_warning").count() == 1
    assert [u for u, _ in notified(unassigned)] == ["lena"]  # the active lead only
    assert [u for u, _ in notified(no_lead)] == ["ada"]  # no lead: the admins


def test_escalation_recipients_and_actions(personas):
    gone = User.objects.create_user(username="gone", role=Role.TEAM_LEAD, is_active=False)
    EscalationLevel.objects.get(level=2).notify_users.set([gone])
    EscalationLevel.objects.filter(level=3).update(
        raise_priority_to="urgent", move_to_team=personas.team_b
    )
    engine.forget_rules()
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0), priority="urgent")
    result = engine.sweep(now=at(2026, 11, 26, 20, 30))  # breach 12:00, L2 14:00, L3 20:00
    assert (result.breaches, result.escalations) == (1, 3)
    escalations = list(
        ticket.events.filter(kind="sla_escalated").order_by("created_at").values_list("data")
    )
    assert [d for (d,) in escalations] == [
        {"metric": "first_response", "level": 1, "notify": "team_lead"},
        {"metric": "first_response", "level": 2, "notify": "service_manager"},
        # already urgent: only the move
        {
            "metric": "first_response",
            "level": 3,
            "notify": "director",
            "team": [personas.team_a.pk, personas.team_b.pk],
        },
    ]
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.updated_at) == (personas.team_b.pk, at(2026, 11, 26, 20, 0))
    notified = list(
        Notification.objects.filter(ticket=ticket, kind="sla_escalation")
        .order_by("id")
        .values_list("user__username", "title")
    )
    number = ticket.number
    assert notified == [
        ("lena", f"[{number}] 首次响应 已超时，升级 L1"),
        # L2 names only an inactive person: nobody, not the admins
        ("ada", f"[{number}] 首次响应 已超时，升级 L3"),
    ]


def test_priority_raised_once_per_ticket_within_a_batch(personas):
    EscalationLevel.objects.filter(level=1).update(raise_priority_to="urgent")
    engine.forget_rules()
    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0), priority="complex")
    # Both the first-response and the resolution clock reach L1 in this one sweep.
    engine.sweep(now=at(2026, 12, 10, 10, 0))
    raised = [
        d["priority"]
        for (d,) in ticket.events.filter(kind="sla_escalated").values_list("data")
        if "priority" in d
    ]
    assert raised == [["complex", "urgent"]]
    ticket.refresh_from_db()
    assert ticket.priority == "urgent"


def test_notify_each_writes_rows_and_emails_after_commit(
    personas, django_capture_on_commit_callbacks
):
    from django.core import mail

    ticket = open_ticket(personas, at(2026, 11, 26, 10, 0))
    with django_capture_on_commit_callbacks(execute=True):
        ids = notify_each(
            [
                Notice(personas.agnes.pk, "sla_warning", "长" * 300, ticket.pk),
                Notice(personas.lena.pk, "sla_escalation", "升级", None),
            ]
        )
    rows = list(
        Notification.objects.filter(pk__in=ids)
        .order_by("id")
        .values_list("user_id", "kind", "title", "body", "ticket_id", "read_at")
    )
    assert rows == [
        (personas.agnes.pk, "sla_warning", "长" * 200, "", ticket.pk, None),
        (personas.lena.pk, "sla_escalation", "升级", "", None, None),
    ]
    # The email copies went out after the commit, each claimed once.
    assert not Notification.objects.filter(pk__in=ids, emailed_at__isnull=True).exists()
    assert notify_each([]) == []
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweepers_at_once_never_fire_twice(personas, monkeypatch):
    tickets = [
        open_ticket(personas, at(2026, 11, 26, 10, 0) + dt.timedelta(minutes=i), priority="urgent")
        for i in range(40)
    ]
    end = at(2026, 11, 26, 21, 0)
    # Hold each batch open a moment after its claim so the two sweepers overlap.
    save_progress = sweeper._save_progress

    def slow_save(clocks):
        threading.Event().wait(0.02)
        save_progress(clocks)

    monkeypatch.setattr(sweeper, "_save_progress", slow_save)
    start = threading.Barrier(2)
    results: list[sweeper.SweepResult] = []
    errors: list[BaseException] = []

    def run():
        try:
            start.wait()
            results.append(engine.sweep(now=end, batch=5))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    # Each ticket's first response (2 h from 10:00 + i min): warnings at 75 % and 90 %, the
    # breach, L1 at once, L2 +2 h, L3 +8 h; its resolution clock (24 h) is not due yet.
    assert total(results) == (40, 80, 40, 120)
    if connection.features.has_select_for_update_skip_locked:
        assert all(r.claimed for r in results)  # both took part
    ids = [t.pk for t in tickets]
    fired = list(
        TicketEvent.objects.filter(ticket_id__in=ids, kind__in=["sla_warning", "sla_breached"])
        .values_list("ticket_id", "kind", "data__metric", "created_at")
        .order_by()
    )
    assert len(fired) == len(set(fired)) == 120
    escalated = list(
        TicketEvent.objects.filter(ticket_id__in=ids, kind="sla_escalated").values_list(
            "ticket_id", "data__level"
        )
    )
    assert len(escalated) == len(set(escalated)) == 120
    assert engine.sweep(now=end).claimed == 0
