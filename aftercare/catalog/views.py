from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from aftercare.core.errors import NotFound
from aftercare.core.http import AuthedRequest

from .selectors import get_visible_unit
from .warranty import evaluate_warranty


@login_required
def warranty_lookup(request: AuthedRequest) -> HttpResponse:
    serial = (request.GET.get("serial") or "").strip().upper()[:64]
    unit = evaluation = None
    if serial:
        try:
            unit = get_visible_unit(request.user, serial)
        except NotFound:
            unit = None
        if unit is not None:
            evaluation = evaluate_warranty(
                purchase_date=unit.purchase_date,
                policy=unit.product.warranty_policy,
                on_date=timezone.localdate(),
            )
    return render(
        request,
        "catalog/warranty_lookup.html",
        {"serial": serial, "unit": unit, "evaluation": evaluation},
    )
