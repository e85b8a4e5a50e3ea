"""Hand-offs: a ticket moved from one team to another carries a note, and the chain is on the
timeline. Called by tickets.services.update_ticket in its transaction, with the ticket locked."""

import datetime as dt

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from aftercare.accounts.models import Team, TeamMembership, User
from aftercare.core.conf import rule
from aftercare.core.errors import ValidationFailed
from aftercare.tickets.choices import EventKind
from aftercare.tickets.models import Ticket, TicketEvent
from aftercare.tickets.services import record_event

from .requests import clean_text
from .services import notify

BOUNCE_NOTIFICATION_KIND = "handoff_bounced"


def is_handoff(from_team: Team | None, to_team: Team | None) -> bool:
    """Routing a ticket that has no team yet is triage, not a hand-off."""
    return from_team is not None and to_team != from_team


def check_handoff_note(note: str | None) -> None:
    """`None`: the caller is the system (a re-route), which states no note; a person must."""
    if note is not None and not clean_text(note):
        raise ValidationFailed(_("转交给其他团队时必须填写转交说明"), code="handoff_note_required")


def handoff_events(ticket: Ticket) -> QuerySet:
    return TicketEvent.objects.filter(ticket=ticket, kind=EventKind.HANDOFF)


def record_handoff(
    *,
    actor: User | None,
    ticket: Ticket,
    from_team: Team | None,
    to_team: Team | None,
    note: str | None,
    at: dt.datetime,
) -> TicketEvent:
    """Write the HANDOFF event; the ticket's n-th hand-off past the bounce limit alerts the
    leads of every team it passed through, once per ticket."""
    event = record_event(
        ticket,
        actor,
        EventKind.HANDOFF,
        field="team",
        before=from_team,
        after=to_team,
        data={
            "from_team_id": from_team.pk if from_team else None,
            "to_team_id": to_team.pk if to_team else None,
            "note": clean_text(note),
        },
        is_internal=True,
        at=at,
    )
    limit = rule("HANDOFF_BOUNCE_LIMIT")
    handoffs = list(handoff_events(ticket).values_list("data", flat=True))
    if len(handoffs) <= limit:
        return event
    if TicketEvent.objects.filter(ticket=ticket, kind=EventKind.HANDOFF_BOUNCED).exists():
        return event
    team_ids = sorted(
        {d[key] for d in handoffs for key in ("from_team_id", "to_team_id") if d.get(key)}
    )
    record_event(
        ticket,
        actor,
        EventKind.HANDOFF_BOUNCED,
        data={"handoffs": len(handoffs), "limit": limit, "team_ids": team_ids},
        is_internal=True,
        at=at,
    )
    leads = [
        m.user
        for m in TeamMembership.objects.filter(
            team_id__in=team_ids, is_lead=True, user__is_active=True
        )
        .select_related("user")
        .order_by("user_id")
    ]
    notify(
        users=leads,
        kind=BOUNCE_NOTIFICATION_KIND,
        title=_("工单 %(number)s 已在团队间转交 %(count)s 次")
        % {"number": ticket.number, "count": len(handoffs)},
        body=clean_text(note),
        ticket=ticket,
    )
    return event
