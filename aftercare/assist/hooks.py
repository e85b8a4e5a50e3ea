"""The two places where the tickets app calls triage: queue a new ticket's triage, and learn
from a person setting a field a head predicted. Kept apart from services.py, which itself
uses the ticket services, so that the tickets app can import this module at load time."""

from collections.abc import Iterable

from django.db import transaction

from . import tasks
from .choices import TICKET_FIELD_HEADS
from .models import TriageModel, TriagePrediction


def queue_ticket_triage(ticket_id: int) -> None:
    """After commit, predict the new ticket's heads; nothing is queued while no model exists."""
    if TriageModel.objects.filter(is_active=True, head__is_enabled=True).exists():
        transaction.on_commit(lambda: tasks.triage_ticket(ticket_id))


def note_field_changes(*, actor, ticket, fields: Iterable[str]) -> None:
    """A person changed ticket fields; those a head predicted become training labels."""
    predicted = [field for field in fields if field in TICKET_FIELD_HEADS]
    if actor is None or not predicted:
        return
    if not TriagePrediction.objects.filter(ticket=ticket, head__name__in=predicted).exists():
        return
    from .services import record_corrections

    record_corrections(actor=actor, ticket=ticket, fields=predicted)
