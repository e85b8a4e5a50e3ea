"""Reads of triage that the API, the ticket page and the admin share."""

from collections.abc import Sequence

from aftercare.tickets.models import Ticket

from .choices import Outcome
from .models import TriageModel, TriagePrediction
from .services import active_models, label_display


def head_warnings() -> list[dict]:
    """Heads switched off because the model in use cannot be loaded."""
    return [
        {
            "head": model.head.name,
            "head_label": model.head.display_name,
            "model_version": model.version,
            "message": model.load_error,
            "since": model.load_error_at,
        }
        for model in active_models()
        if model.load_error
    ]


def prediction_out(prediction: TriagePrediction) -> dict:
    head = prediction.head.name
    shown = prediction.final_label or prediction.label
    return {
        "head": head,
        "head_label": prediction.head.display_name,
        "label": prediction.label,
        "label_display": label_display(head, shown, prediction.angry),
        "confidence": prediction.confidence,
        "threshold": prediction.threshold,
        "outcome": prediction.outcome,
        "applied": prediction.outcome == Outcome.APPLIED,
        "angry": prediction.angry,
        "terms": [{"term": term, "weight": weight} for term, weight in prediction.terms],
        "final_label": prediction.final_label,
        "model_version": prediction.model.version if prediction.model else None,
        "created_at": prediction.created_at,
    }


def ticket_triage(ticket: Ticket) -> dict:
    predictions = TriagePrediction.objects.filter(ticket=ticket).select_related("head", "model")
    return {
        "ticket_id": ticket.pk,
        "predictions": [prediction_out(p) for p in predictions.order_by("head__name")],
        "warnings": head_warnings(),
    }


def models_page(
    *, head: str | None, after_id: int | None, limit: int
) -> tuple[Sequence[TriageModel], set[int], int | None]:
    """Models newest first, the ids of those in use, and the id to continue after."""
    models = TriageModel.objects.select_related("head").order_by("-id")
    if head:
        models = models.filter(head__name=head)
    if after_id is not None:
        models = models.filter(id__lt=after_id)
    rows = list(models[: limit + 1])
    in_use = {model.pk for model in active_models()}
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, in_use, rows[-1].pk if more and rows else None
