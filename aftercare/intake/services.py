"""The one intake service every channel uses to turn a request into a ticket: email now (see
`inbound`), the API, and the portal, chat, phone and WeChat as they arrive.

The channel has already found or created the customer (by mobile, email or WeChat id); here the
product unit is matched — given, or a serial number written in the request — and the ticket is
opened with its SLA clocks and acknowledgement.
"""

import re

from aftercare.accounts.models import Team, User
from aftercare.catalog.models import ProductUnit
from aftercare.customers.models import Contact, Customer
from aftercare.tickets import services as tickets
from aftercare.tickets.choices import Priority
from aftercare.tickets.models import Ticket

from .models import Mailbox

# What a serial number printed on a product looks like: letters, digits and dashes.
_SERIAL_CANDIDATE = re.compile(r"[A-Z0-9][A-Z0-9\-]{7,39}")


def find_unit_in_text(text: str, customer_id: int) -> ProductUnit | None:
    """A unit whose serial appears in the text: the customer's own first, else an unowned one
    (a unit registered to someone else is never attached to this customer's request)."""
    candidates = list(dict.fromkeys(_SERIAL_CANDIDATE.findall(text[:20000].upper())))[:50]
    if not candidates:
        return None
    units = list(ProductUnit.objects.filter(serial__in=candidates).order_by("pk"))
    own = [u for u in units if u.owner_id == customer_id]
    return own[0] if own else next((u for u in units if u.owner_id is None), None)


def submit_request(
    *,
    actor: User | None,
    channel: str,
    kind: str,
    subject: str,
    description: str,
    customer: Customer,
    contact: Contact | None,
    product_unit: ProductUnit | None = None,
    priority: str = Priority.REGULAR,
    team: Team | None = None,
    assignee: User | None = None,
    tags: list[str] | None = None,
    custom_fields: dict | None = None,
    acknowledge: bool = True,
) -> Ticket:
    """Open the ticket for a customer's request arriving on any channel."""
    unit = product_unit or find_unit_in_text(f"{subject}\n{description}", customer.pk)
    return tickets.open_ticket(
        actor=actor,
        kind=kind,
        channel=channel,
        subject=subject,
        description=description,
        customer=customer,
        contact=contact,
        product_unit=unit,
        priority=priority,
        team=team,
        assignee=assignee,
        tags=tags,
        custom_fields=custom_fields,
        acknowledge=acknowledge,
    )


def issue_webhook_token(*, mailbox: Mailbox) -> str:
    """A new token for the inbound webhook of this mailbox (shown once; the old one stops)."""
    import secrets

    from aftercare.accounts.models import hash_token

    raw = f"acm_{secrets.token_urlsafe(32)}"
    Mailbox.objects.filter(pk=mailbox.pk).update(webhook_token_hash=hash_token(raw))
    return raw


def mailbox_for_webhook_token(raw: str) -> Mailbox | None:
    from aftercare.accounts.models import hash_token

    if not raw:
        return None
    return Mailbox.objects.filter(webhook_token_hash=hash_token(raw), is_active=True).first()
