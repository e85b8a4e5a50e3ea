"""Background jobs of triage. They take ids and are safe to run twice."""

from huey.contrib.djhuey import db_task


@db_task(retries=2, retry_delay=30)
def triage_ticket(ticket_id: int) -> int:
    """Predict the heads of a ticket; returns how many predictions were stored."""
    from .services import triage_ticket as run

    return len(run(ticket_id=ticket_id))
