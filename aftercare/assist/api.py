"""Triage under /api/v1: a ticket's predictions (service side only, with the ticket's
visibility rules) and the list of trained models."""

from django.utils.translation import gettext as _
from ninja import Query, Router

from aftercare.accounts import policy
from aftercare.core.api_support import decode_cursor, encode_cursor
from aftercare.core.errors import Forbidden, ValidationFailed
from aftercare.core.http import AuthedRequest

from . import selectors, services
from .schemas import ModelListQuery, ModelPage, TriageLabelIn, TriageOut

router = Router(tags=["triage"])


def _ticket_for_triage(request: AuthedRequest, ticket_id: int):
    ticket = policy.get_visible_ticket(request.user, ticket_id)
    # Predicted mood and the words behind it are internal notes about the customer.
    if not policy.can_see_internal(request.user):
        raise Forbidden(_("客户不能查看分诊结果"), code="triage_refused")
    return ticket


@router.get(
    "/tickets/{int:ticket_id}/triage",
    response=TriageOut,
    summary="A ticket's triage: predictions, confidences, driving words, applied or suggested",
)
def get_ticket_triage(request: AuthedRequest, ticket_id: int):
    return selectors.ticket_triage(_ticket_for_triage(request, ticket_id))


@router.post(
    "/tickets/{int:ticket_id}/triage/{head}/label",
    response=TriageOut,
    summary="Confirm or correct one head of a ticket's triage (becomes a training label)",
)
def label_ticket_triage(request: AuthedRequest, ticket_id: int, head: str, payload: TriageLabelIn):
    ticket = _ticket_for_triage(request, ticket_id)
    if not policy.can_work_ticket(request.user, ticket):
        raise Forbidden()
    services.label_triage(actor=request.user, ticket=ticket, head=head, label=payload.label)
    return selectors.ticket_triage(ticket)


@router.get("/triage/models", response=ModelPage, summary="Trained triage models (staff)")
def list_models(request: AuthedRequest, query: Query[ModelListQuery]):
    policy.check_staff(request.user)
    after_id = None
    if query.cursor:
        (after_id,) = decode_cursor(query.cursor, 1)
        if not isinstance(after_id, int):
            raise ValidationFailed(_("分页游标无效"), code="invalid_cursor")
    rows, in_use, next_id = selectors.models_page(
        head=query.head, after_id=after_id, limit=query.limit
    )
    items = [
        {
            "id": m.pk,
            "head": m.head.name,
            "version": m.version,
            "labels": m.labels,
            "metrics": m.metrics,
            "source": m.source,
            "training_rows": m.training_rows,
            "size": m.size,
            "sha256": m.sha256,
            "is_active": m.is_active,
            "in_use": m.pk in in_use,
            "load_error": m.load_error,
            "created_at": m.created_at,
        }
        for m in rows
    ]
    return {"items": items, "next_cursor": encode_cursor([next_id]) if next_id else None}
