import datetime as dt
from zoneinfo import ZoneInfo

from aftercare.tickets import services as ticket_services

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def open_team_ticket(personas, team=None, *, subject="空调不制冷", customer=None):
    """A ticket of team A (or `team`), opened by its agent."""
    return ticket_services.open_ticket(
        actor=personas.agnes,
        kind="repair",
        channel="phone",
        subject=subject,
        customer=customer or personas.alice_customer,
        team=team or personas.team_a,
        acknowledge=False,
    )
