"""{% triage_panel ticket %}: the triage box of the ticket page (service side only)."""

from django import template

from aftercare.accounts import policy

from .. import selectors

register = template.Library()


@register.inclusion_tag("assist/_triage_panel.html", takes_context=True)
def triage_panel(context, ticket) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not policy.can_see_internal(user):
        return {"show": False}
    triage = selectors.ticket_triage(ticket)
    return {"show": True, **triage}
