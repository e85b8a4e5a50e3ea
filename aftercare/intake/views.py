from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from aftercare.accounts import policy
from aftercare.core.errors import NotFound
from aftercare.core.http import AuthedRequest

from .models import InboundEmail


@login_required
def inbound_detail(request: AuthedRequest, inbound_id: int) -> HttpResponse:
    """The whole mail as received — quoted text, signature and all — for staff who may see its
    ticket; the conversation shows only the new part."""
    inbound = get_object_or_404(InboundEmail.objects.select_related("ticket"), pk=inbound_id)
    user = request.user
    if user.is_customer or inbound.ticket_id is None:
        raise Http404
    try:
        policy.get_visible_ticket(user, inbound.ticket_id)
    except NotFound as exc:
        raise Http404 from exc
    return render(
        request,
        "intake/inbound_detail.html",
        {"inbound": inbound, "can_download_raw": user.role == "admin"},
    )
